"""dnsmasq's configuration, built as data (option, value) and rendered with every value checked.

Both modes answer the three kinds of netbooting client differently, so none loops:
- a BIOS PXE ROM gets `undionly.kpxe` by TFTP,
- a UEFI x86-64 ROM gets `ipxe.efi` (or `snponly.efi`) by TFTP,
- iPXE itself (user class "iPXE" or option 175) gets BASE/boot.ipxe over HTTP,
- a Secure Boot node (tag `sb`, by MAC) gets the signed shim `bootx64.efi` by TFTP instead
  of iPXE (lan/signedboot.py), and, asking as a UEFI HTTP client (vendor class HTTPClient,
  architecture 16; full mode), the shim's URL on seedbed.
Proxy mode answers only PXE clients and leaves addresses to the router; full mode is the
LAN's DHCP server (a reservation per node MAC) and its DNS server for the site domain.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from pathlib import Path

from ..artifacts import SHIM, release_path
from ..inventory import Inventory
from ..inventory.fields import DNS_NAME
from .signedboot import SHIM_FILE, uses_signed_chain

BIOS_BINARY = "undionly.kpxe"
# DHCP option 93 client architectures (RFC 4578): 7 is EFI BC, which x86-64 UEFI
# firmware sends; 9 is the same in older dnsmasq's naming (X86-64_EFI).
UEFI_ARCHES = (7, 9)
UEFI_HTTP_ARCH = 16  # x64 UEFI HTTP boot (RFC 4578 registry)
MENU_TEXT = '"seedbed: network boot"'

_KEY = re.compile(r"[a-z][a-z0-9-]*")
_URL = re.compile(r"https?://[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._~%/+-]*)?")
_PATH = re.compile(r"(/[A-Za-z0-9_.+-]+)+")
_TAG = re.compile(r"(tag:!?|set:)[a-z0-9]+")
_WORD = re.compile(r"[A-Za-z0-9_:./~%+-]+")


class DnsmasqConfigError(ValueError):
    """A value that cannot be written safely into dnsmasq's configuration."""


@dataclass(frozen=True)
class Option:
    key: str
    value: str | None = None  # None: a flag such as `enable-tftp`


@dataclass(frozen=True)
class Paths:
    """Where the running dnsmasq keeps its state (leases) under seedbed's state folder."""

    state: Path

    @property
    def conf(self) -> Path:
        return self.state.resolve() / "dnsmasq.conf"

    @property
    def leases(self) -> Path:
        return self.state.resolve() / "dnsmasq.leases"  # dnsmasq runs from another cwd


# -- checked value builders: every inventory value passes one of these ----------------


def _check(regex: re.Pattern[str], value: str, what: str) -> str:
    if not regex.fullmatch(value):
        raise DnsmasqConfigError(f"{what} {value!r} cannot be written to dnsmasq.conf")
    return value


def _ip(value: ipaddress.IPv4Address) -> str:
    return str(ipaddress.IPv4Address(str(value)))


def _mac(value: str) -> str:
    return _check(re.compile(r"([0-9a-f]{2}:){5}[0-9a-f]{2}"), value, "MAC")


def _name(value: str) -> str:
    return _check(DNS_NAME, value, "host or domain name")


def _path(value: str | Path) -> str:
    return _check(_PATH, str(value), "path")


def _url(value: str) -> str:
    return _check(_URL, value, "URL")


def _join(*parts: str) -> str:
    for part in parts:
        if part and not (_TAG.fullmatch(part) or _WORD.fullmatch(part) or part == MENU_TEXT):
            raise DnsmasqConfigError(f"{part!r} is not a safe dnsmasq option field")
    return ",".join(parts)


# -- the configuration as data ----------------------------------------------------------


def boot_url(inv: Inventory) -> str:
    return _url(f"{inv.site.base_url}/boot.ipxe")


def config_options(inv: Inventory, paths: Paths) -> list[Option]:
    dhcp = inv.dhcp
    options = _common(inv, paths)
    options += _full_mode(inv) if dhcp.mode == "full" else _proxy_mode(inv)
    options += _tftp(inv)
    return options


def _common(inv: Inventory, paths: Paths) -> list[Option]:
    options = [
        Option("pid-file", ""),  # supervised in the foreground: no pid file
        Option("log-facility", "-"),  # stderr, collected by the supervisor
        Option("dhcp-leasefile", _path(paths.leases)),
    ]
    if inv.dhcp.interface:
        options += [Option("interface", _join(inv.dhcp.interface)), Option("bind-dynamic")]
    # iPXE identifies itself both ways; either one means "already iPXE: no chainload".
    options += [
        Option("dhcp-userclass", _join("set:ipxe", "iPXE")),
        Option("dhcp-match", _join("set:ipxe", "175")),
        *(Option("dhcp-match", _join("set:efi64", "option:client-arch", str(arch))) for arch in UEFI_ARCHES),
        Option("dhcp-match", _join("set:efihttp", "option:client-arch", str(UEFI_HTTP_ARCH))),
    ]
    # Secure Boot nodes by MAC: firmware that refuses unsigned iPXE gets the signed shim.
    options += [Option("dhcp-mac", _join("set:sb", _mac(mac)))
                for node in inv.nodes if inv.secure_boot(node) for mac in node.macs]
    return options


def _proxy_mode(inv: Inventory) -> list[Option]:
    subnet, efi = inv.site.subnet, inv.dhcp.uefi_binary
    return [
        Option("port", "0"),  # no DNS: the router's resolver stays in charge
        Option("dhcp-range", _join("set:lan", _ip(subnet.network_address), "proxy", str(subnet.netmask))),
        # PXE ROMs only take a boot file from a proxy's PXE menu: one entry per firmware.
        Option("pxe-prompt", _join(MENU_TEXT, "0")),
        Option("pxe-service", _join("tag:!ipxe", "x86PC", MENU_TEXT, BIOS_BINARY)),
        # The first service that matches a client wins: Secure Boot nodes' shim first.
        *(Option("pxe-service", _join("tag:!ipxe", "tag:sb", csa, MENU_TEXT, SHIM_FILE))
          for csa in ("BC_EFI", "X86-64_EFI") if uses_signed_chain(inv)),
        Option("pxe-service", _join("tag:!ipxe", "BC_EFI", MENU_TEXT, efi)),
        Option("pxe-service", _join("tag:!ipxe", "X86-64_EFI", MENU_TEXT, efi)),
        # iPXE takes a ProxyDHCP answer only with a next-server and a boot file in it
        # (dhcp_has_pxeopts): without the address, it ignores the proxy and finds nothing.
        Option("dhcp-boot", _join("tag:ipxe", boot_url(inv), "", _ip(_server(inv)))),
    ]


def _server(inv: Inventory) -> ipaddress.IPv4Address:
    server = inv.server_ip()
    if server is None:
        raise DnsmasqConfigError("dnsmasq needs seedbed's address: set dhcp.server_ip")
    return server


def _full_mode(inv: Inventory) -> list[Option]:
    site, dhcp = inv.site, inv.dhcp
    server = _server(inv)
    lease = _join(dhcp.lease_time)
    netmask = str(site.subnet.netmask)
    if dhcp.range is None:
        pool = _join("set:lan", _ip(site.subnet.network_address), "static", netmask, lease)
    else:
        pool = _join("set:lan", _ip(dhcp.range.start), _ip(dhcp.range.end), netmask, lease)
    options = [
        Option("port", "53"),
        Option("no-resolv"),  # forward only to the inventory's upstream resolvers
        Option("no-hosts"),  # answer from the inventory, not this host's /etc/hosts
        Option("domain-needed"),
        Option("bogus-priv"),
        *(Option("server", _ip(s)) for s in inv.upstream_dns()),
        Option("local", f"/{_name(site.domain)}/"),
        Option("domain", _join(_name(site.domain), str(site.subnet))),
        Option("dhcp-authoritative"),
        Option("dhcp-range", pool),
        Option("dhcp-option", _join("tag:lan", "option:router", _ip(site.gateway))),
        Option("dhcp-option", _join("tag:lan", "option:dns-server", _ip(server))),
        Option("dhcp-option", _join("tag:lan", "option:domain-search", _name(site.domain))),
    ]
    for node in inv.nodes:
        macs = [_mac(m) for m in node.macs]
        options.append(Option("dhcp-host", _join(*macs, _ip(node.ip), _name(node.hostname), lease)))
        options.append(
            Option("host-record", _join(_name(inv.fqdn(node)), _name(node.hostname), _ip(node.ip)))
        )
    return options + [
        Option("dhcp-boot", _join("tag:!ipxe", "tag:!efi64", "tag:!efihttp", BIOS_BINARY)),
        # dnsmasq takes the first dhcp-boot whose tags all match: Secure Boot nodes' first.
        *_signed_chain_boot(inv),
        Option("dhcp-boot", _join("tag:!ipxe", "tag:efi64", inv.dhcp.uefi_binary)),
        Option("dhcp-boot", _join("tag:ipxe", boot_url(inv))),
    ]


def shim_url(inv: Inventory) -> str | None:
    """The signed shim over HTTP, for UEFI HTTP boot: shim fetches GRUB from beside it."""
    release = inv.installer.release
    return None if release is None else _url(f"{inv.site.base_url}/files/{release_path(release, SHIM)}")


def _signed_chain_boot(inv: Inventory) -> list[Option]:
    url = shim_url(inv)
    if not uses_signed_chain(inv) or url is None:
        return []
    return [
        Option("dhcp-boot", _join("tag:!ipxe", "tag:efi64", "tag:sb", SHIM_FILE)),
        # A UEFI HTTP client takes an answer only with vendor class HTTPClient (option 60).
        Option("dhcp-option-force", _join("tag:efihttp", "tag:sb", "60", "HTTPClient")),
        Option("dhcp-boot", _join("tag:efihttp", "tag:sb", url)),
    ]


def _tftp(inv: Inventory) -> list[Option]:
    return [Option("enable-tftp"), Option("tftp-root", _path(inv.dhcp.tftp_root))]


# -- text ---------------------------------------------------------------------------------


def render(options: list[Option]) -> str:
    """dnsmasq.conf text; refuses anything that could end a line or start a comment."""
    lines = ["# Written by seedbed from the inventory; rewritten on every change."]
    for opt in options:
        _check(_KEY, opt.key, "option name")
        if opt.value is None:
            lines.append(opt.key)
            continue
        if any(c in opt.value for c in "\n\r\x00#") or opt.value != opt.value.strip():
            raise DnsmasqConfigError(f"{opt.key}: unsafe value {opt.value!r}")
        lines.append(f"{opt.key}={opt.value}")
    return "\n".join(lines) + "\n"


def config_text(inv: Inventory, paths: Paths) -> str:
    return render(config_options(inv, paths))


def missing_boot_files(inv: Inventory) -> list[Path]:
    """The iPXE binaries dnsmasq must serve by TFTP that are not in tftp_root."""
    root = Path(inv.dhcp.tftp_root)
    return [root / name for name in (BIOS_BINARY, inv.dhcp.uefi_binary) if not (root / name).is_file()]
