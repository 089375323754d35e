"""The whole inventory, and the look-ups the service makes on it."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Annotated

from pydantic import Field

from .cluster import Cluster
from .discovery import DiscoverySettings
from .fields import Strict
from .image import ImageSettings
from .lan import Dhcp, Ldap
from .node import Node
from .site import Admin, BootProfile, Installer, Site, Software


class Inventory(Strict):
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
    discovery: DiscoverySettings = DiscoverySettings()

    def node_by_mac(self, mac: str) -> Node | None:
        return self._mac_index().get(mac)

    def node_by_hostname(self, hostname: str) -> Node | None:
        return self._index("_hostnames", lambda: {n.hostname: n for n in reversed(self.nodes)}).get(hostname)

    def secure_boot(self, node: Node) -> bool:
        """Whether the node's firmware has Secure Boot on (it gets the signed chain)."""
        return self.site.secure_boot if node.secure_boot is None else node.secure_boot

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
        return self._index("_macs", lambda: {mac: node for node in self.nodes for mac in node.macs})

    def _index(self, name: str, build: Callable[[], dict[str, Node]]) -> dict[str, Node]:
        """A look-up table built on first use; an inventory is not changed once loaded (a
        reload or an edit makes a new one). Per request these were linear scans."""
        index = self.__dict__.get(name)
        if index is None:
            index = self.__dict__[name] = build()
        return index
