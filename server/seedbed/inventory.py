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


class Inventory(_Strict):
    site: Site
    admin: Admin
    installer: Installer
    software: Software = Software()
    profiles: dict[str, BootProfile] = {}
    nodes: Annotated[list[Node], Field(min_length=1)]

    def node_by_mac(self, mac: str) -> Node | None:
        return self._mac_index().get(mac)

    def node_by_hostname(self, hostname: str) -> Node | None:
        return next((n for n in self.nodes if n.hostname == hostname), None)

    def fqdn(self, node: Node) -> str:
        return f"{node.hostname}.{self.site.domain}"

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
