"""LAN services: seedbed's dnsmasq (proxy or full DHCP) and the LDAP directory for logins."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from .fields import Strict, listed_once, no_controls


class DhcpRange(Strict):
    start: ipaddress.IPv4Address
    end: ipaddress.IPv4Address

    @model_validator(mode="after")
    def _ordered(self) -> DhcpRange:
        if self.start > self.end:
            raise ValueError(f"range start {self.start} is after its end {self.end}")
        return self


class Dhcp(Strict):
    """seedbed's dnsmasq: `proxy` answers only PXE next to the router's DHCP (the
    default); `full` is the LAN's DHCP and DNS server, with a reservation per node."""

    mode: Literal["proxy", "full"] = "proxy"
    interface: str | None = None  # default: every interface
    server_ip: ipaddress.IPv4Address | None = None  # default: the address in site.base_url
    range: DhcpRange | None = None  # full mode's pool for unknown machines; none: reservations only
    lease_time: str = "12h"
    upstream_dns: list[ipaddress.IPv4Address] = []  # full mode; default: site.dns
    tftp_root: str = "/usr/lib/ipxe"  # holds undionly.kpxe and ipxe.efi (Debian's `ipxe`)
    uefi_binary: Literal["ipxe.efi", "snponly.efi"] = "ipxe.efi"
    # How the signed GRUB of Secure Boot nodes reads its per-machine config: `http` from
    # seedbed's /grub (GRUB >= 2.12 has http built in: Ubuntu 24.04's), else `tftp` files
    # seedbed writes per MAC (GRUB 2.06 has no http, and Secure Boot forbids insmod).
    grub_config: Literal["tftp", "http"] = "tftp"

    @field_validator("interface")
    @classmethod
    def _interface(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[A-Za-z0-9_.-]{1,15}", v):
            raise ValueError(f"{v!r} is not a network interface name")
        return v

    @field_validator("lease_time")
    @classmethod
    def _lease(cls, v: str) -> str:
        if not re.fullmatch(r"\d{1,7}[smhdw]?|infinite", v):
            raise ValueError(f"{v!r} is not a lease time such as 12h, 30m or infinite")
        return v

    @field_validator("tftp_root")
    @classmethod
    def _tftp_root(cls, v: str) -> str:
        if not re.fullmatch(r"(/[A-Za-z0-9_.+-]+)+/?", v) or "/../" in f"{v}/":
            raise ValueError(f"{v!r} is not an absolute path of letters, digits and ._+-")
        return v.rstrip("/")


_LDAP_URI = re.compile(r"ldaps?://[A-Za-z0-9.-]+(:\d{1,5})?/?")


_LDAP_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


_PEM_CERT = re.compile(
    r"(-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?)+")


class Ldap(Strict):
    """The directory nodes take logins from (SSSD), e.g. the Synology NAS's LDAP Server."""

    uri: Annotated[list[str], Field(min_length=1)]
    base_dn: str
    bind_dn: str
    bind_password: SecretStr
    ca_cert: str  # PEM of the CA that signed the server's certificate
    logins: Annotated[list[Literal["ssh_keys", "passwords"]], Field(min_length=1)] = ["ssh_keys"]
    allowed_group: str | None = None  # only its members may log in
    schema_: Literal["rfc2307", "rfc2307bis"] = Field("rfc2307", alias="schema")
    ssh_key_attribute: str = "sshPublicKey"

    @field_validator("uri")
    @classmethod
    def _uri(cls, v: list[str]) -> list[str]:
        for uri in v:
            if not _LDAP_URI.fullmatch(uri):
                raise ValueError(f"{uri!r} is not an ldap:// or ldaps:// URI of a host")
        if len({uri.split(":", 1)[0] for uri in v}) > 1:
            raise ValueError("use ldaps:// for every server or ldap:// (with StartTLS) for all")
        return v

    @field_validator("base_dn", "bind_dn")
    @classmethod
    def _dn(cls, v: str, info: ValidationInfo) -> str:
        no_controls(v, info.field_name or "DN")
        if "=" not in v:
            raise ValueError(f"{v!r} is not a DN such as dc=lab,dc=internal")
        return v

    @field_validator("bind_password")
    @classmethod
    def _password(cls, v: SecretStr) -> SecretStr:
        secret = v.get_secret_value()
        no_controls(secret, "bind_password")
        if secret != secret.strip():
            raise ValueError("bind_password must not start or end with whitespace")
        return v

    @field_validator("ca_cert")
    @classmethod
    def _pem(cls, v: str) -> str:
        text = v.strip().replace("\r\n", "\n") + "\n"
        if not _PEM_CERT.fullmatch(text):
            raise ValueError("ca_cert must be PEM: -----BEGIN CERTIFICATE----- ... END CERTIFICATE")
        return text

    @field_validator("allowed_group")
    @classmethod
    def _group(cls, v: str | None) -> str | None:
        if v is not None and not _LDAP_NAME.fullmatch(v):
            raise ValueError(f"{v!r} is not a group name of letters, digits and ._-")
        return v

    @field_validator("ssh_key_attribute")
    @classmethod
    def _attribute(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,63}", v):
            raise ValueError(f"{v!r} is not an LDAP attribute name")
        return v

    @model_validator(mode="after")
    def _policy(self) -> Ldap:
        listed_once(self.logins, "a login method")
        if "passwords" in self.logins and self.allowed_group is None:
            # sshd re-enables passwords only for this group: the admin keeps key-only logins.
            raise ValueError("password logins need allowed_group (sshd allows passwords only "
                             "for that directory group)")
        return self
