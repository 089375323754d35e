"""The lab inventory: one YAML file describing the site, the admin account and the nodes.

Loading reports every problem at once, each naming the field and, where the
YAML parser can tell, the line. Unknown keys are errors: a typo must never be
silently ignored.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from passlib.hash import sha512_crypt
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

Role = Literal["controlplane", "etcd", "worker"]
InstallMethod = Literal["autoinstall", "image"]
SeedKind = Literal["autoinstall", "cloud-config"]

_MAC_HEX = re.compile(r"^[0-9a-f]{12}$")
_HOSTNAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_USERNAME = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
_SSH_KEY = re.compile(
    r"^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com"
    r"|sk-ecdsa-sha2-nistp256@openssh\.com) [A-Za-z0-9+/]+={0,3}( [^\n\r]*)?$"
)
_CRYPT_HASH = re.compile(r"^\$(6|5|y|2[aby])\$[./A-Za-z0-9$=,]+$")
# Values that reach iPXE, GRUB or a kernel command line: those formats have no
# quoting that survives every consumer, so unsafe characters are refused here.
_BOOT_SAFE = re.compile(r"^[\x21-\x7e]+$")


def normalize_mac(value: str) -> str:
    """Return a MAC in lower-case colon form; accept colon, hyphen and bare-hex forms."""
    raw = value.strip().lower()
    if re.fullmatch(r"([0-9a-f]{2}[:-]){5}[0-9a-f]{2}", raw):
        seps = {raw[i] for i in range(2, 17, 3)}
        if len(seps) != 1:
            raise ValueError(f"malformed MAC {value!r}: mixed separators")
        raw = raw.replace(":", "").replace("-", "")
    if not _MAC_HEX.fullmatch(raw):
        raise ValueError(f"malformed MAC {value!r}: expected aa:bb:cc:dd:ee:ff")
    return ":".join(raw[i : i + 2] for i in range(0, 12, 2))


def _boot_safe(value: str, what: str) -> str:
    for token in value.split(" "):
        if token and (not _BOOT_SAFE.fullmatch(token) or "${" in token or "'" in token):
            raise ValueError(f"{what} contains characters unsafe on a boot command line: {token!r}")
    if any(c in value for c in "\n\r\t"):
        raise ValueError(f"{what} must be one line")
    return value


def _url(value: str, what: str) -> str:
    if not re.match(r"^https?://[^/\s]+", value) or any(c.isspace() for c in value):
        raise ValueError(f"{what} must be an http:// or https:// URL without spaces")
    return _boot_safe(value, what)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class AptSettings(_Strict):
    proxy: str | None = None
    mirror: str | None = None

    @field_validator("proxy", "mirror")
    @classmethod
    def _is_url(cls, v: str | None) -> str | None:
        return None if v is None else _url(v, "apt setting")


class Site(_Strict):
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

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        labels = v.split(".")
        if not all(_DOMAIN_LABEL.fullmatch(label) for label in labels) or len(v) > 253:
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
        return _url(v, "base_url").rstrip("/")

    @field_validator("ntp")
    @classmethod
    def _ntp(cls, v: list[str]) -> list[str]:
        for server in v:
            if not re.fullmatch(r"[A-Za-z0-9.:-]+", server):
                raise ValueError(f"{server!r} is not a host name or address")
        return v


class Admin(_Strict):
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


class Installer(_Strict):
    """Where the Ubuntu 20.04 live-server netboot files come from."""

    kernel: str
    initrd: str
    iso: str
    cmdline: str = ""

    @field_validator("kernel", "initrd", "cmdline")
    @classmethod
    def _boot_line(cls, v: str, info: ValidationInfo) -> str:
        return _boot_safe(v, info.field_name)

    @field_validator("iso")
    @classmethod
    def _iso(cls, v: str) -> str:
        return _url(v, "iso")


class BootProfile(_Strict):
    """Any kernel, initrd and command line; seedbed appends the NoCloud seed pointer."""

    kernel: str
    initrd: str
    cmdline: str = ""
    seed: SeedKind = "cloud-config"

    @field_validator("kernel", "initrd", "cmdline")
    @classmethod
    def _boot_line(cls, v: str, info: ValidationInfo) -> str:
        return _boot_safe(v, info.field_name)


class DiskSelector(_Strict):
    """Subiquity's storage match keys; `size` picks the largest or smallest disk."""

    serial: str | None = None
    model: str | None = None
    vendor: str | None = None
    path: str | None = None
    ssd: bool | None = None
    size: Literal["largest", "smallest"] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> DiskSelector:
        if not self.model_dump(exclude_none=True):
            raise ValueError("disk selector needs at least one of serial, model, vendor, path, ssd, size")
        return self

    def match(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Software(_Strict):
    """Pinned versions: RKE rejects Docker releases newer than those it knows."""

    docker_version: str = "5:24.0.9-1~ubuntu.20.04~focal"
    nvidia_driver: str = "nvidia-driver-535-server"
    nvidia_toolkit_version: str = "1.17.8-1"

    @field_validator("docker_version", "nvidia_driver", "nvidia_toolkit_version")
    @classmethod
    def _package_version(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9.+:~_-]+", v):
            raise ValueError(f"{v!r} is not a Debian package name or version")
        return v


class Node(_Strict):
    hostname: str
    macs: Annotated[list[str], Field(min_length=1)]
    ip: ipaddress.IPv4Address
    roles: Annotated[list[Role], Field(min_length=1)]
    gpus: Annotated[int, Field(ge=0, le=16)] = 0
    disk: DiskSelector = DiskSelector(size="largest")
    install: InstallMethod = "autoinstall"
    profile: str | None = None
    adopted: bool = False
    labels: dict[str, str] = {}

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        if not _HOSTNAME.fullmatch(v):
            raise ValueError(f"{v!r} is not a lower-case RFC 1123 host name label")
        return v

    @field_validator("macs")
    @classmethod
    def _macs(cls, v: list[str]) -> list[str]:
        return [normalize_mac(m) for m in v]

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("a role is listed twice")
        return v

    @property
    def primary_mac(self) -> str:
        return self.macs[0]


class DhcpRange(_Strict):
    start: ipaddress.IPv4Address
    end: ipaddress.IPv4Address

    @model_validator(mode="after")
    def _ordered(self) -> DhcpRange:
        if self.start > self.end:
            raise ValueError(f"range start {self.start} is after its end {self.end}")
        return self


class Dhcp(_Strict):
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


def _no_controls(value: str, what: str) -> str:
    if not value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValueError(f"{what} must be non-empty, on one line, without control characters")
    return value


class Ldap(_Strict):
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
        _no_controls(v, info.field_name or "DN")
        if "=" not in v:
            raise ValueError(f"{v!r} is not a DN such as dc=lab,dc=internal")
        return v

    @field_validator("bind_password")
    @classmethod
    def _password(cls, v: SecretStr) -> SecretStr:
        secret = v.get_secret_value()
        _no_controls(secret, "bind_password")
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
        if len(set(self.logins)) != len(self.logins):
            raise ValueError("a login method is listed twice")
        if "passwords" in self.logins and self.allowed_group is None:
            # sshd re-enables passwords only for this group: the admin keeps key-only logins.
            raise ValueError("password logins need allowed_group (sshd allows passwords only "
                             "for that directory group)")
        return self


_ABS_PATH = re.compile(r"(/[A-Za-z0-9_.+@-]+)+")
_K8S_VERSION = re.compile(r"v\d+\.\d+\.\d+-rancher\d+(-\d+)?")


def _abs_path(value: str, what: str) -> str:
    if not _ABS_PATH.fullmatch(value) or "/../" in f"{value}/" or "/./" in f"{value}/":
        raise ValueError(f"{what} {value!r} is not an absolute path of letters, digits and ._+@-")
    return value


class NfsExport(_Strict):
    """An NFS export for the cluster's default StorageClass (e.g. a Synology share)."""

    server: str
    path: str

    @field_validator("server")
    @classmethod
    def _server(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?", v):
            raise ValueError(f"{v!r} is not a host name or IPv4 address")
        return v

    @field_validator("path")
    @classmethod
    def _path(cls, v: str) -> str:
        return _abs_path(v, "export path")


class RancherSettings(_Strict):
    enabled: bool = True
    hostname: str | None = None  # default: rancher.<site.domain>
    bootstrap_password: SecretStr | None = None  # default: generated once, kept in the state folder
    replicas: Annotated[int, Field(ge=1, le=5)] = 3  # capped at the number of workers

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str | None) -> str | None:
        if v is not None and not all(_DOMAIN_LABEL.fullmatch(p) for p in v.split(".")):
            raise ValueError(f"{v!r} is not a lower-case DNS name")
        return v

    @field_validator("bootstrap_password")
    @classmethod
    def _password(cls, v: SecretStr | None) -> SecretStr | None:
        secret = v.get_secret_value() if v is not None else None
        if secret is not None and (len(secret) < 12 or any(ord(c) < 32 for c in secret)):
            raise ValueError("bootstrap_password needs at least 12 characters and no control "
                             "characters (Rancher refuses shorter ones)")
        return v


class ClusterTools(_Strict):
    """Where rke, helm and kubectl live when they are not on PATH."""

    rke: str | None = None
    helm: str | None = None
    kubectl: str | None = None

    @field_validator("rke", "helm", "kubectl")
    @classmethod
    def _tool(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else _abs_path(v, info.field_name or "tool")


class Cluster(_Strict):
    """How seedbed assembles the Kubernetes cluster; every key has a default."""

    kubernetes_version: str | None = None  # default: rke/versions.yaml
    network_plugin: Literal["canal", "calico", "flannel", "weave", "none"] = "canal"
    load_balancer: str | None = None  # MetalLB pool: first-last address, or a CIDR
    rancher: RancherSettings = RancherSettings()
    nfs: NfsExport | None = None
    kubeconfig: str | None = None  # also copy kube_config_cluster.yml here after each rke up
    tools: ClusterTools = ClusterTools()

    @field_validator("kubernetes_version")
    @classmethod
    def _version(cls, v: str | None) -> str | None:
        if v is not None and not _K8S_VERSION.fullmatch(v):
            raise ValueError(f"{v!r} is not an RKE Kubernetes version such as v1.30.14-rancher1-1")
        return v

    @field_validator("load_balancer")
    @classmethod
    def _range(cls, v: str | None) -> str | None:
        if v is None:
            return None
        first, last = _address_range(v)
        return f"{first}-{last}"

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig(cls, v: str | None) -> str | None:
        return None if v is None else _abs_path(v, "kubeconfig")

    def load_balancer_range(self) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address] | None:
        return None if self.load_balancer is None else _address_range(self.load_balancer)


def _address_range(text: str) -> tuple[ipaddress.IPv4Address, ipaddress.IPv4Address]:
    """`a.b.c.d-e.f.g.h` or a CIDR, as (first, last); MetalLB accepts both forms."""
    try:
        if "/" in text:
            net = ipaddress.IPv4Network(text, strict=True)
            return net.network_address, net.broadcast_address
        first, sep, last = text.partition("-")
        start, end = ipaddress.IPv4Address(first.strip()), ipaddress.IPv4Address(last.strip())
    except ValueError as exc:
        raise ValueError(f"{text!r} is not an address range such as 192.168.1.240-192.168.1.250 "
                         f"or a CIDR: {exc}") from None
    if not sep or start > end:
        raise ValueError(f"{text!r}: give first-last with first <= last")
    return start, end


class ImageSettings(_Strict):
    """The golden image `install: image` nodes receive, and the deploy ramdisk that writes it.

    Paths are relative to the files folder (served at /files/) unless they are URLs.
    """

    file: str  # e.g. golden/seedbed-golden.raw.zst
    sha256: str | None = None  # default: read from FILE.sha256 beside the image
    format: Literal["raw.zst", "raw"] = "raw.zst"
    deploy_kernel: str = "deploy/vmlinuz"
    deploy_initrd: str = "deploy/initrd.img"
    cmdline: str = ""  # extra kernel arguments for the deploy ramdisk, e.g. console=ttyS0
    root_partition: Annotated[int, Field(ge=1, le=128)] | None = None  # default: the last one

    @field_validator("file", "deploy_kernel", "deploy_initrd", "cmdline")
    @classmethod
    def _boot_line(cls, v: str, info: ValidationInfo) -> str:
        if info.field_name != "cmdline" and ".." in v.split("/"):
            raise ValueError(f"{info.field_name} must stay inside the files folder")
        return _boot_safe(v, info.field_name)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError("sha256 must be 64 lower-case hex digits")
        return v

    def is_url(self) -> bool:
        return self.file.startswith(("http://", "https://"))


class Inventory(_Strict):
    site: Site
    admin: Admin
    installer: Installer
    software: Software = Software()
    profiles: dict[str, BootProfile] = {}
    nodes: Annotated[list[Node], Field(min_length=1)]
    dhcp: Dhcp = Dhcp()
    ldap: Ldap | None = None
    cluster: Cluster = Cluster()
    image: ImageSettings | None = None

    def node_by_mac(self, mac: str) -> Node | None:
        return self._mac_index().get(mac)

    def node_by_hostname(self, hostname: str) -> Node | None:
        return next((n for n in self.nodes if n.hostname == hostname), None)

    def fqdn(self, node: Node) -> str:
        return f"{node.hostname}.{self.site.domain}"

    def server_ip(self) -> ipaddress.IPv4Address | None:
        """seedbed's address on the LAN: dhcp.server_ip, else the IPv4 host of site.base_url."""
        if self.dhcp.server_ip is not None:
            return self.dhcp.server_ip
        host = re.sub(r"^https?://([^/:]+).*$", r"\1", self.site.base_url)
        try:
            return ipaddress.IPv4Address(host)
        except ValueError:
            return None

    def upstream_dns(self) -> list[ipaddress.IPv4Address]:
        """Where full mode's dnsmasq forwards queries it cannot answer (never itself)."""
        servers = self.dhcp.upstream_dns or self.site.dns
        return [s for s in servers if s != self.server_ip()]

    def _mac_index(self) -> dict[str, Node]:
        index = self.__dict__.get("_macs")
        if index is None:
            index = {mac: node for node in self.nodes for mac in node.macs}
            self.__dict__["_macs"] = index
        return index


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    line: int | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.severity}: {where}{self.path}: {self.message}"


class InventoryError(Exception):
    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{source}: {len(errors)} problem(s)\n" + "\n".join(map(str, problems)))


@dataclass(frozen=True)
class LoadedInventory:
    inventory: Inventory
    warnings: list[Problem]


def load_inventory(path: str | Path) -> LoadedInventory:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(str(path), [Problem("<file>", f"cannot read: {exc.strerror}")]) from exc
    return parse_inventory(text, source=str(path))


def parse_inventory(text: str, source: str = "<inventory>") -> LoadedInventory:
    """Parse and check an inventory; raise InventoryError listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise InventoryError(source, [Problem("<document>", f"not valid YAML: {exc}", line)]) from exc
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    if root is not None:
        _index_lines(root, (), lines, problems)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InventoryError(source, [Problem("<document>", "the inventory must be a YAML mapping")])
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, lines))
        # Still report what the valid parts break between them: every problem at once.
        site, nodes, profiles = _valid_parts(data)
        problems.extend(cross_check(site, nodes, profiles, lines, complete=False))
        raise InventoryError(source, problems) from exc
    problems.extend(cross_check(inventory.site, list(enumerate(inventory.nodes)),
                                inventory.profiles, lines))
    problems.extend(lan_problems(inventory, lines))
    problems.extend(cluster_problems(inventory, lines))
    problems.extend(image_problems(inventory, lines))
    if any(p.severity == "error" for p in problems):
        raise InventoryError(source, problems)
    inventory = inventory.model_copy(update={"admin": inventory.admin.hashed()})
    return LoadedInventory(inventory, [p for p in problems if p.severity == "warning"])


def _index_lines(node: yaml.Node, path: tuple, out: dict[tuple, int], problems: list[Problem]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    Problem(_dotted(path + (key,)), "duplicate key", key_node.start_mark.line + 1)
                )
            seen.add(key)
            out[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), out, problems)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), out, problems)


def _dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<document>"


def _line_for(path: tuple, lines: dict[tuple, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _pydantic_problems(exc: ValidationError, lines: dict[tuple, int]) -> Iterator[Problem]:
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if err["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "literal_error":
            message = f"{err['input']!r} is not allowed: {str(err['msg']).removeprefix('Input ')}"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
        yield Problem(_dotted(loc), message, _line_for(loc, lines))


def _valid_parts(data: dict[str, Any]) -> tuple[Site | None, list[tuple[int, Node]], dict]:
    def valid(model: type[BaseModel], value: Any) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError:
            return None

    site = valid(Site, data.get("site"))
    raw_nodes = data.get("nodes") if isinstance(data.get("nodes"), list) else []
    nodes = [(i, n) for i, n in enumerate(valid(Node, raw) for raw in raw_nodes) if n is not None]
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    return site, nodes, profiles


def cross_check(site: Site | None, nodes: list[tuple[int, Node]], profiles: dict,
                lines: dict[tuple, int] | None = None, complete: bool = True) -> list[Problem]:
    """Rules that span fields: uniqueness, subnet membership, cluster roles.

    `nodes` pairs each node with its index in the file; with complete=False some
    nodes were invalid, so rules about the whole set (roles) are not judged.
    """
    lines = lines or {}
    problems: list[Problem] = []

    def add(path: tuple, message: str, severity: Literal["error", "warning"] = "error") -> None:
        problems.append(Problem(_dotted(path), message, _line_for(path, lines), severity))

    if site is not None:
        _check_site(site, add)
    seen_mac: dict[str, int] = {}
    seen_host: dict[str, int] = {}
    seen_ip: dict[ipaddress.IPv4Address, int] = {}
    for i, node in nodes:
        for j, mac in enumerate(node.macs):
            if mac in seen_mac:
                add(("nodes", i, "macs", j), f"MAC {mac} is already used by nodes[{seen_mac[mac]}]")
            seen_mac.setdefault(mac, i)
        if node.hostname in seen_host:
            add(("nodes", i, "hostname"), f"{node.hostname!r} duplicates nodes[{seen_host[node.hostname]}]")
        seen_host.setdefault(node.hostname, i)
        if node.ip in seen_ip:
            add(("nodes", i, "ip"), f"{node.ip} duplicates nodes[{seen_ip[node.ip]}]")
        seen_ip.setdefault(node.ip, i)
        if site is not None:
            _check_node_address(site, i, node, add)
        if node.profile is not None and node.profile not in profiles:
            add(("nodes", i, "profile"), f"no boot profile named {node.profile!r} under profiles")
    if complete:
        _check_roles([n for _, n in nodes], add)
    return problems


def _check_site(site: Site, add: Callable[..., None]) -> None:
    if site.gateway not in site.subnet:
        add(("site", "gateway"), f"{site.gateway} is outside the subnet {site.subnet}")


def _check_node_address(site: Site, i: int, node: Node, add: Callable[..., None]) -> None:
    reserved = {site.subnet.network_address, site.subnet.broadcast_address, site.gateway}
    if node.ip not in site.subnet:
        add(("nodes", i, "ip"), f"{node.ip} is outside the subnet {site.subnet}")
    elif node.ip in reserved:
        add(("nodes", i, "ip"), f"{node.ip} is the subnet's network, broadcast or gateway address")


def _check_roles(nodes: list[Node], add: Callable[..., None]) -> None:
    for role in ("controlplane", "etcd", "worker"):
        if not any(role in n.roles for n in nodes):
            add(("nodes",), f"no node has the role {role}: the cluster needs at least one")
    etcd = sum("etcd" in n.roles for n in nodes)
    if etcd and etcd % 2 == 0:
        add(("nodes",), f"{etcd} etcd nodes: an even count tolerates no more failures than {etcd - 1}",
            "warning")


def lan_problems(inv: Inventory, lines: dict[tuple, int] | None = None) -> list[Problem]:
    """Rules between the dhcp/ldap sections and the site: addresses inside the subnet."""
    lines = lines or {}
    problems: list[Problem] = []

    def add(path: tuple, message: str, severity: Literal["error", "warning"] = "error") -> None:
        problems.append(Problem(_dotted(path), message, _line_for(path, lines), severity))

    dhcp, subnet = inv.dhcp, inv.site.subnet
    if dhcp.server_ip is not None and dhcp.server_ip not in subnet:
        add(("dhcp", "server_ip"), f"{dhcp.server_ip} is outside the subnet {subnet}")
    if inv.server_ip() is None:
        add(("dhcp", "server_ip"), "dnsmasq needs seedbed's own address: give server_ip "
            "(site.base_url names no IPv4 address)")
    if dhcp.mode == "proxy":
        if dhcp.range is not None:
            add(("dhcp", "range"), "a range is served only in full mode: in proxy mode the "
                "router hands out addresses")
        return problems
    if not inv.upstream_dns():
        add(("dhcp", "upstream_dns"), "full mode needs an upstream resolver other than seedbed")
    if dhcp.range is not None:
        for end in ("start", "end"):
            if getattr(dhcp.range, end) not in subnet:
                add(("dhcp", "range", end), f"{getattr(dhcp.range, end)} is outside {subnet}")
        for i, node in enumerate(inv.nodes):
            if dhcp.range.start <= node.ip <= dhcp.range.end:
                add(("nodes", i, "ip"), f"{node.ip} lies in the dynamic range: it stays "
                    "reserved, but keep node addresses outside the pool", "warning")
    return problems


def cluster_problems(inv: Inventory, lines: dict[tuple, int] | None = None) -> list[Problem]:
    """The load-balancer pool must sit inside the site subnet and miss every fixed address."""
    lines = lines or {}
    span = inv.cluster.load_balancer_range()
    if span is None:
        return []
    path = ("cluster", "load_balancer")
    where = _dotted(path), _line_for(path, lines)
    first, last = span
    subnet = inv.site.subnet
    if first not in subnet or last not in subnet:
        return [Problem(*where[:1], f"{first}-{last} is not inside the subnet {subnet}", where[1])]
    problems = []
    fixed = {subnet.network_address: "the network address", subnet.broadcast_address:
             "the broadcast address", inv.site.gateway: "the gateway"}
    fixed.update({node.ip: f"node {node.hostname}" for node in inv.nodes})
    for address, owner in sorted(fixed.items()):
        if first <= address <= last:
            problems.append(Problem(where[0], f"{first}-{last} includes {address} ({owner})",
                                    where[1]))
    return problems


def image_problems(inv: Inventory, lines: dict[tuple, int] | None = None) -> list[Problem]:
    """Image installs need an image: section, and an image fetched by URL needs its sha256."""
    lines = lines or {}
    problems = [Problem(_dotted(("nodes", i, "install")), "install: image needs an image: "
                        "section (the golden image and the deploy ramdisk)",
                        _line_for(("nodes", i, "install"), lines))
                for i, node in enumerate(inv.nodes) if node.install == "image" and inv.image is None]
    if inv.image is not None and inv.image.is_url() and inv.image.sha256 is None:
        problems.append(Problem("image.sha256", "an image served from a URL needs its sha256 here",
                                _line_for(("image",), lines)))
    return problems
