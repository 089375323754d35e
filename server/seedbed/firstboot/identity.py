"""Who the node is: host name, time zone and clock, the admin user; root locked."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..inventory import Inventory, Node
from .base import Target

if TYPE_CHECKING:
    from ..health import Facts


def admin_keys(inv: Inventory, service_key: str | None) -> list[str]:
    """The admin's authorized_keys: the inventory's keys plus seedbed's own (RKE logs in with it)."""
    keys = list(inv.admin.ssh_keys)
    if service_key and service_key not in keys:
        keys.append(service_key)
    return keys


def config(target: Target) -> dict[str, Any]:
    inv, node, admin = target.inv, target.node, target.inv.admin
    part: dict[str, Any] = {
        "hostname": node.hostname,
        "fqdn": inv.fqdn(node),
        "timezone": inv.site.timezone,
        "users": [{
            "name": admin.username,
            "gecos": "seedbed admin",
            "groups": ["adm", "sudo", "docker"],
            "shell": "/bin/bash",
            "lock_passwd": False,
            "hashed_passwd": admin.password_hash,
            "ssh_authorized_keys": admin_keys(inv, target.service_key),
        }],
        "runcmd": [["passwd", "-l", "root"]],
    }
    if inv.site.ntp:
        part["ntp"] = {"enabled": True, "servers": list(inv.site.ntp)}
    return part


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    if facts.hostname.split(".")[0] != node.hostname:
        return [f"hostname is {facts.hostname!r}, inventory says {node.hostname!r}"]
    return []
