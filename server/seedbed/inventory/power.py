"""A node's power control: which driver, where its BMC is, and the name of its credential.

The credential itself never lives here: `secret` names an entry of the state folder's
secrets file (seedbed.power.secrets), set with `seedbed power set-credentials NODE`.
Each driver takes only the fields it uses, and the ones it needs are required.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from .fields import Strict, abs_path, normalize_mac

Driver = Literal["ipmi", "redfish", "wol", "manual"]

# driver -> (fields it needs, fields it also takes)
DRIVER_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "ipmi": (frozenset({"address", "username"}), frozenset({"secret", "cipher_suite"})),
    "redfish": (frozenset({"address", "username"}),
                frozenset({"secret", "system", "verify_tls", "ca_file"})),
    "wol": (frozenset(), frozenset({"mac", "broadcast", "interface"})),
    "manual": (frozenset(), frozenset({"instructions"})),
}
_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+)(:\d{1,5})?$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_INTERFACE = re.compile(r"^[A-Za-z0-9_.:-]{1,15}$")


class Power(Strict):
    driver: Driver
    address: str | None = None  # ipmi: host[:port]; redfish: https://host[:port]
    username: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    secret: str | None = None  # the credential's name in the secrets file (default: the hostname)
    cipher_suite: Annotated[int, Field(ge=0, le=17)] | None = None  # ipmi (ipmitool -C)
    system: str | None = None  # redfish: the ComputerSystem's path (default: the only one)
    verify_tls: bool | None = None  # redfish: check the BMC's certificate (default: yes)
    # redfish: the PEM file the BMC's certificate is checked against: its CA's, or the BMC's
    # own self-signed one (default: the system's CAs, which no BMC's factory certificate is from)
    ca_file: str | None = None
    mac: str | None = None  # wol: the MAC to wake (default: the node's first)
    broadcast: ipaddress.IPv4Address | None = None  # wol (default: 255.255.255.255)
    interface: str | None = None  # wol: send out of this interface only
    instructions: Annotated[str, Field(max_length=500)] | None = None  # manual

    @field_validator("ca_file")
    @classmethod
    def _ca_file(cls, v: str | None) -> str | None:
        return None if v is None else abs_path(v, "ca_file")

    @model_validator(mode="after")
    def _fields_for_driver(self) -> Power:
        needed, optional = DRIVER_FIELDS[self.driver]
        given = {k for k in self.model_fields_set if getattr(self, k) is not None} - {"driver"}
        missing = sorted(needed - given)
        if missing:
            raise ValueError(f"power driver {self.driver} needs {', '.join(missing)}")
        foreign = sorted(given - needed - optional)
        if foreign:
            raise ValueError(f"power driver {self.driver} takes no {', '.join(foreign)}")
        if self.driver == "ipmi" and not _HOST_PORT.fullmatch(self.address or ""):
            raise ValueError(f"ipmi address {self.address!r} is not host or host:port")
        if self.driver == "redfish" and not re.fullmatch(r"https?://[^\s/]+/?", self.address or ""):
            raise ValueError(f"redfish address {self.address!r} is not http(s)://host[:port]")
        if self.ca_file is not None and self.verify_tls is False:
            raise ValueError("redfish ca_file checks the BMC's certificate; verify_tls: false "
                             "turns that check off: give one or the other")
        if self.ca_file is not None and not (self.address or "").startswith("https://"):
            raise ValueError("redfish ca_file checks a certificate: it needs an https:// address")
        return self

    @field_validator("secret")
    @classmethod
    def _secret_name(cls, v: str | None) -> str | None:
        if v is not None and not _NAME.fullmatch(v):
            raise ValueError("a secret name is 1-64 letters, digits, '_', '.', '-'")
        return v

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: str | None) -> str | None:
        return None if v is None else normalize_mac(v)

    @field_validator("interface")
    @classmethod
    def _interface(cls, v: str | None) -> str | None:
        if v is not None and not _INTERFACE.fullmatch(v):
            raise ValueError(f"{v!r} is not a network interface name")
        return v

    @field_validator("system")
    @classmethod
    def _system(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"/[A-Za-z0-9_./-]+", v):
            raise ValueError("a redfish system is a path such as /redfish/v1/Systems/1")
        return v

    def secret_name(self, hostname: str) -> str:
        return self.secret or hostname

    @property
    def needs_secret(self) -> bool:
        return self.driver in ("ipmi", "redfish")
