"""The node firewall: the cluster's ports open to the lab subnet, everything else denied inbound."""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from ..cluster.rke2 import port_rules
from ..inventory import Inventory, Node
from ..resources import data_file
from .base import Target

if TYPE_CHECKING:
    from ..health import Facts


@dataclass(frozen=True)
class PortRule:
    port: str  # "6443" or a "first:last" range, as ufw writes it
    proto: str
    why: str


def checked(entries: list[dict[str, str]], source: str) -> tuple[PortRule, ...]:
    rules = tuple(PortRule(**entry) for entry in entries)
    for rule in rules:
        if not re.fullmatch(r"\d{1,5}(:\d{1,5})?", rule.port) or rule.proto not in ("tcp", "udp"):
            raise ValueError(f"bad port rule in {source}: {rule}")
        # ufw's own parser rejects quotes in a comment ("Invalid syntax") and then skips the rule.
        if not re.fullmatch(r"[A-Za-z0-9 ,.()/:-]+", rule.why):
            raise ValueError(f"{source}: ufw refuses the comment {rule.why!r}")
    return rules


@cache
def cluster_ports() -> tuple[PortRule, ...]:
    """RKE's ports (rke/ports.yaml)."""
    with data_file("rke", "ports.yaml").open() as f:
        return checked(yaml.safe_load(f), "rke/ports.yaml")


@cache
def rke2_ports(plugin: str) -> tuple[PortRule, ...]:
    """RKE2's ports with its CNI plugin's (rke/rke2/ports.yaml)."""
    return checked(port_rules(plugin), "rke/rke2/ports.yaml")


def engine_ports(inv: Inventory) -> tuple[PortRule, ...]:
    if inv.cluster.engine == "rke2":
        return rke2_ports(inv.cluster.network_plugin)
    return cluster_ports()


def ufw_commands(inv: Inventory) -> list[list[str]]:
    """argv lists (no shell) that reset ufw to exactly the documented policy."""
    subnet = str(inv.site.subnet)
    commands = [
        ["ufw", "--force", "reset"],
        ["ufw", "default", "deny", "incoming"],
        ["ufw", "default", "allow", "outgoing"],
        # Pods and services talk over the CNI interfaces; ufw must not drop forwarded traffic.
        ["ufw", "default", "allow", "routed"],
    ]
    for rule in engine_ports(inv):
        commands.append(["ufw", "allow", "from", subnet, "to", "any", "port", rule.port,
                         "proto", rule.proto, "comment", rule.why])
    commands.append(["ufw", "--force", "enable"])
    return commands


def config(target: Target) -> dict[str, Any]:
    firewall = "; ".join(shlex.join(argv) for argv in ufw_commands(target.inv))
    return {"runcmd": [["sh", "-c", f"if command -v ufw >/dev/null; then {firewall}; fi"]]}


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    return []  # reported (facts.firewall), not yet a reason to keep a node out
