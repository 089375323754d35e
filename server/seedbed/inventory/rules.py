"""Rules that span fields and sections, each problem naming its field and line."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..disks import selector_warnings
from .model import Inventory
from .node import Node
from .site import Site


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    line: int | None = None
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{self.severity}: {where}{self.path}: {self.message}"


def dotted(path: tuple) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "<document>"


def line_for(path: tuple, lines: dict[tuple, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def cross_check(site: Site | None, nodes: list[tuple[int, Node]], profiles: dict,
                lines: dict[tuple, int] | None = None, complete: bool = True) -> list[Problem]:
    """Rules that span fields: uniqueness, subnet membership, cluster roles.

    `nodes` pairs each node with its index in the file; with complete=False some
    nodes were invalid, so rules about the whole set (roles) are not judged.
    """
    lines = lines or {}
    problems: list[Problem] = []

    def add(path: tuple, message: str, severity: Literal["error", "warning"] = "error") -> None:
        problems.append(Problem(dotted(path), message, line_for(path, lines), severity))

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
        if "disk" in node.model_fields_set:
            for warning in selector_warnings(node.disk):
                add(("nodes", i, "disk"), warning, "warning")
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
        problems.append(Problem(dotted(path), message, line_for(path, lines), severity))

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
    """A network plugin rke takes for that Kubernetes version; a load-balancer pool inside
    the site subnet that misses every fixed address."""
    lines = lines or {}
    return _plugin_problems(inv, lines) + _pool_problems(inv, lines)


def _plugin_problems(inv: Inventory, lines: dict[tuple, int]) -> list[Problem]:
    from ..cluster import clusteryml, data  # the cluster package imports the inventory

    problem = data.network_plugin_problem(inv.cluster.network_plugin,
                                          clusteryml.kubernetes_version(inv),
                                          inv.cluster.engine)
    path = ("cluster", "network_plugin")
    return [] if problem is None else [Problem(dotted(path), problem, line_for(path, lines))]


def _pool_problems(inv: Inventory, lines: dict[tuple, int]) -> list[Problem]:
    span = inv.cluster.load_balancer_range()
    if span is None:
        return []
    path = ("cluster", "load_balancer")
    where = dotted(path), line_for(path, lines)
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
    problems = [Problem(dotted(("nodes", i, "install")), "install: image needs an image: "
                        "section (the golden image and the deploy ramdisk)",
                        line_for(("nodes", i, "install"), lines))
                for i, node in enumerate(inv.nodes) if node.install == "image" and inv.image is None]
    if inv.image is not None and inv.image.is_url() and inv.image.sha256 is None:
        problems.append(Problem("image.sha256", "an image served from a URL needs its sha256 here",
                                line_for(("image",), lines)))
    return problems


def secure_boot_problems(inv: Inventory, lines: dict[tuple, int] | None = None) -> list[Problem]:
    """A Secure Boot node must be offered the signed chain: firmware refuses unsigned iPXE."""
    from ..boot import install_profile  # boot imports the inventory

    lines = lines or {}
    problems = []
    for i, node in enumerate(inv.nodes):
        if not inv.secure_boot(node):
            continue
        path = ("nodes", i, "secure_boot") if node.secure_boot else ("site", "secure_boot")
        where = dotted(path), line_for(path, lines)
        if inv.installer.release is None:
            problems.append(Problem(where[0], f"{node.hostname} has Secure Boot on, but without "
                "installer.release the only UEFI boot file seedbed has is unsigned iPXE "
                f"({inv.dhcp.uefi_binary}), which its firmware refuses (Access Denied): import "
                "the ISO (`seedbed artifacts import ISO`) and name it as installer.release, so "
                "the node gets the ISO's signed shim -> GRUB -> kernel chain", where[1]))
            continue
        if "tftp_root" not in inv.dhcp.model_fields_set and not any("tftp_root" in p.path
                                                                       for p in problems):
            path = ("dhcp", "tftp_root")
            problems.append(Problem(dotted(path), f"{node.hostname} has Secure Boot on: seedbed "
                "writes the signed chain and per-machine GRUB configs into dnsmasq's TFTP root, so "
                "set dhcp.tftp_root to a folder seedbed may write (not the ipxe package's "
                "/usr/lib/ipxe) and copy undionly.kpxe and ipxe.efi into it", line_for(path, lines)))
        profile = install_profile(inv, node)
        for field in ("kernel", "initrd"):
            location = getattr(profile, field)
            if inv.dhcp.grub_config == "tftp" and location.startswith(("http://", "https://")):
                problems.append(Problem(where[0], f"{node.hostname}: its {field} {location} is a "
                    "URL, but with dhcp.grub_config: tftp the signed GRUB reads over TFTP only: "
                    "name a path under the files folder", where[1]))
            elif location.startswith("https://"):
                problems.append(Problem(where[0], f"{node.hostname}: GRUB cannot fetch {location} "
                                        "(https): use http:// or the files folder", where[1]))
    return problems
