"""The site, the admin account, the installer, boot profiles and pinned software."""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Literal

from passlib.hash import sha512_crypt
from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator

from ..artifacts import INITRD, KERNEL, check_release_name, release_path
from .fields import DNS_LABEL, Strict, boot_path, boot_safe, http_url

_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")


_SSH_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$"
)


_CRYPT_HASH = re.compile(r"^\$(6|5|y|2[aby])\$[./A-Za-z0-9$=,]+$")


class AptSettings(Strict):
    proxy: str | None = None
    mirror: str | None = None

    @field_validator("proxy", "mirror")
    @classmethod
    def _is_url(cls, v: str | None) -> str | None:
        # Only ever serialized into YAML and shell-quoted: never on a boot line.
        return None if v is None else http_url(v, "apt setting", boot_line=False)


class Site(Strict):
    domain: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    dns: Annotated[list[ipaddress.IPv4Address], Field(min_length=1)]
    ntp: list[str] = []
    timezone: str = "UTC"
    apt: AptSettings = AptSettings()
    base_url: str
    seed_ttl_minutes: Annotated[int, Field(gt=0, le=7 * 24 * 60)] = 120
    reinstall_window_minutes: Annotated[int, Field(gt=0, le=7 * 24 * 60)] = 24 * 60
    # How long a node stays armed after it first appears in the inventory (README: threat model).
    new_node_window_minutes: Annotated[int, Field(gt=0, le=7 * 24 * 60)] = 24 * 60
    # Seeds and callbacks only from the address that fetched the install's boot script
    # or the node's own inventory address.
    pin_install_address: bool = True
    # UEFI Secure Boot on in the nodes' firmware: they get the signed shim -> GRUB chain of
    # installer.release instead of iPXE (a node's own `secure_boot` overrides this).
    secure_boot: bool = False

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        labels = v.split(".")
        if not all(DNS_LABEL.fullmatch(label) for label in labels) or len(v) > 253:
            raise ValueError(f"{v!r} is not a lower-case DNS domain")
        return v

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z_+-]+(/[A-Za-z0-9_+-]+){0,2}", v):
            raise ValueError(f"{v!r} is not a time zone name such as UTC or Europe/Berlin")
        return v

    @field_validator("base_url")
    @classmethod
    def _base_url(cls, v: str) -> str:
        return http_url(v, "base_url").rstrip("/")

    @field_validator("ntp")
    @classmethod
    def _ntp(cls, v: list[str]) -> list[str]:
        for server in v:
            if not re.fullmatch(r"[A-Za-z0-9.:-]+", server):
                raise ValueError(f"{server!r} is not a host name or address")
        return v


class Admin(Strict):
    username: str
    password: SecretStr | None = None
    password_hash: str | None = None
    ssh_keys: Annotated[list[str], Field(min_length=1)]

    @field_validator("username")
    @classmethod
    def _username(cls, v: str) -> str:
        if not _USERNAME.fullmatch(v) or v == "root":
            raise ValueError(f"{v!r} is not a valid non-root Linux user name")
        return v

    @field_validator("ssh_keys")
    @classmethod
    def _keys(cls, v: list[str]) -> list[str]:
        for i, key in enumerate(v):
            if not _SSH_KEY.fullmatch(key):
                raise ValueError(f"ssh_keys[{i}] is not an OpenSSH public key line")
        return v

    @field_validator("password_hash")
    @classmethod
    def _hash(cls, v: str | None) -> str | None:
        if v is not None and not _CRYPT_HASH.fullmatch(v):
            raise ValueError("password_hash must be a crypt(3) hash such as $6$...")
        return v

    @model_validator(mode="after")
    def _one_password(self) -> Admin:
        if (self.password is None) == (self.password_hash is None):
            raise ValueError("give exactly one of password (hashed at load) or password_hash")
        return self

    def hashed(self) -> Admin:
        """The same admin with a plaintext password replaced by its sha512_crypt hash."""
        if self.password is None:
            return self
        digest = sha512_crypt.hash(self.password.get_secret_value())
        return self.model_copy(update={"password": None, "password_hash": digest})


class Installer(Strict):
    """Where the Ubuntu 20.04 live-server netboot files come from: `release`, a folder
    `seedbed artifacts import` made from the ISO (with the signed shim and GRUB), or
    `kernel` and `initrd` named outright."""

    release: str | None = None
    kernel: str = ""  # filled in from `release` when that is given
    initrd: str = ""
    iso: str
    cmdline: str = ""

    @field_validator("kernel", "initrd", "cmdline")
    @classmethod
    def _boot_line(cls, v: str, info: ValidationInfo) -> str:
        check = boot_safe if info.field_name == "cmdline" else boot_path
        return v if v == "" and info.field_name != "cmdline" else check(v, info.field_name)

    @field_validator("release")
    @classmethod
    def _release(cls, v: str | None) -> str | None:
        return None if v is None else check_release_name(v)

    @model_validator(mode="after")
    def _release_or_paths(self) -> Installer:
        named = bool(self.kernel or self.initrd)
        if self.release is None and not (self.kernel and self.initrd):
            raise ValueError("give release (from `seedbed artifacts import ISO`) or both kernel and initrd")
        if self.release is not None and named:
            raise ValueError("give release or kernel/initrd, not both (the release names its own)")
        if self.release is not None:
            # Frozen model: set the derived paths once, here.
            object.__setattr__(self, "kernel", release_path(self.release, KERNEL))
            object.__setattr__(self, "initrd", release_path(self.release, INITRD))
        return self

    @field_validator("iso")
    @classmethod
    def _iso(cls, v: str) -> str:
        # casper's netboot (`url=`) fetches over plain HTTP only, and takes the download
        # for an ISO to loop-mount only when the URL ends in .iso.
        v = http_url(v, "iso")
        if not v.startswith("http://"):
            raise ValueError("the installer fetches the ISO over plain http:// only (casper's url=)")
        if not v.endswith(".iso"):
            raise ValueError("casper netboots url= only when it ends in .iso (no query string)")
        return v


SeedKind = Literal["autoinstall", "cloud-config"]


class BootProfile(Strict):
    """Any kernel, initrd and command line; seedbed appends the NoCloud seed pointer."""

    kernel: str
    initrd: str
    cmdline: str = ""
    seed: SeedKind = "cloud-config"

    @field_validator("kernel", "initrd", "cmdline")
    @classmethod
    def _boot_line(cls, v: str, info: ValidationInfo) -> str:
        check = boot_safe if info.field_name == "cmdline" else boot_path
        return check(v, info.field_name)


_NVIDIA_SERVER_DRIVER = re.compile(r"nvidia-driver-(\d+)-server")


class Software(Strict):
    """Pinned versions: RKE rejects Docker releases newer than those it knows."""

    docker_version: str = "5:24.0.9-1~ubuntu.20.04~focal"
    containerd_version: str = "1.6.28-1"  # containerd.io, as shipped with Docker 24.0.9
    buildx_version: str = "0.12.1-1~ubuntu.20.04~focal"  # docker-buildx-plugin
    nvidia_driver: str = "nvidia-driver-535-server"
    # nvidia-container-toolkit and the libnvidia-container packages share one version.
    nvidia_toolkit_version: str = "1.17.8-1"

    @field_validator("docker_version", "containerd_version", "buildx_version", "nvidia_driver",
                     "nvidia_toolkit_version")
    @classmethod
    def _package_version(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.+:~_-]+", v):
            raise ValueError(f"{v!r} is not a Debian package name or version")
        return v

    @field_validator("nvidia_driver")
    @classmethod
    def _server_branch(cls, v: str) -> str:
        # Canonical signs prebuilt modules (linux-modules-nvidia-<branch>-server-generic) for
        # the server branches: they load with Secure Boot on; a DKMS build does not.
        if not _NVIDIA_SERVER_DRIVER.fullmatch(v):
            raise ValueError(f"{v!r} is not nvidia-driver-<branch>-server (e.g. "
                             "nvidia-driver-535-server), the form with signed prebuilt modules")
        return v

    @property
    def nvidia_modules(self) -> str:
        """Canonical's signed prebuilt kernel modules matching the driver branch."""
        branch = _NVIDIA_SERVER_DRIVER.fullmatch(self.nvidia_driver).group(1)  # type: ignore[union-attr]
        return f"linux-modules-nvidia-{branch}-server-generic"
