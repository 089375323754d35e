"""The node firewall: the cluster's ports open to the lab subnet, everything else denied inbound."""

from __future__ import annotations

import ipaddress
import re
import shlex
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from ..inventory import Node
from ..resources import data_file
from .base import Target

if TYPE_CHECKING:
    from ..health import Facts


@dataclass(frozen=True)
class PortRule:
    port: str  # "6443" or a "first:last" range, as ufw writes it
    proto: str
    why: str


@cache
def cluster_ports() -> tuple[PortRule, ...]:
    with data_file("rke", "ports.yaml").open() as f:
        rules = tuple(PortRule(**entry) for entry in yaml.safe_load(f))
    for rule in rules:
        if not re.fullmatch(r"\d{1,5}(:\d{1,5})?", rule.port) or rule.proto not in ("tcp", "udp"):
            raise ValueError(f"bad port rule in rke/ports.yaml: {rule}")
        # ufw's own parser rejects quotes in a comment ("Invalid syntax") and then skips the rule.
        if not re.fullmatch(r"[A-Za-z0-9 ,.()/:-]+", rule.why):
            raise ValueError(f"rke/ports.yaml: ufw refuses the comment {rule.why!r}")
    return rules


def ufw_commands(subnet: ipaddress.IPv4Network) -> list[list[str]]:
    """argv lists (no shell) that reset ufw to exactly the documented policy."""
    commands = [
        ["ufw", "--force", "reset"],
        ["ufw", "default", "deny", "incoming"],
        ["ufw", "default", "allow", "outgoing"],
        # Pods and services talk over the CNI interfaces; ufw must not drop forwarded traffic.
        ["ufw", "default", "allow", "routed"],
    ]
    for rule in cluster_ports():
        commands.append(["ufw", "allow", "from", str(subnet), "to", "any", "port", rule.port,
                         "proto", rule.proto, "comment", rule.why])
    commands.append(["ufw", "--force", "enable"])
    return commands


def config(target: Target) -> dict[str, Any]:
    firewall = "; ".join(shlex.join(argv) for argv in ufw_commands(target.inv.site.subnet))
    return {"runcmd": [["sh", "-c", f"if command -v ufw >/dev/null; then {firewall}; fi"]]}


def problems(node: Node, facts: Facts) -> list[str]:
    return []  # reported (facts.firewall), not yet a reason to keep a node out
