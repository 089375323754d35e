"""Who is in the cluster now, and what a run would apply: cluster.yml plus the add-ons.

The trigger rule: every controlplane and etcd node of the inventory must be
ready and healthy; workers join when they are. A node that is not ready, or
ready but unhealthy, is left out of cluster.yml.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..inventory import Inventory, Node
from ..store import NodeRow
from . import addons, clusteryml


@dataclass(frozen=True)
class Member:
    hostname: str
    roles: list[str]
    install: int | None  # a reinstalled node is a new member, even under the same name

    def as_dict(self) -> dict[str, Any]:
        return {"hostname": self.hostname, "roles": self.roles, "install": self.install}


@dataclass(frozen=True)
class Membership:
    nodes: list[Node]  # ready and healthy, in inventory order
    members: list[Member]
    waiting: list[str]  # controlplane/etcd nodes not ready yet, with why
    left_out: list[str]  # other nodes not in cluster.yml, with why

    @property
    def complete(self) -> bool:
        return bool(self.nodes) and not self.waiting


def membership(inv: Inventory, rows: Mapping[str, NodeRow]) -> Membership:
    nodes, members, waiting, left_out = [], [], [], []
    for node in inv.nodes:
        row = rows.get(node.hostname)
        state = row.state if row else "new"
        if state == "ready" and row is not None and not row.health:
            nodes.append(node)
            members.append(Member(node.hostname, list(node.roles), row.install_id))
            continue
        why = f"{node.hostname} ({state}"
        if row is not None and row.health:
            why += ": " + "; ".join(row.health)
        why += ")"
        core = "controlplane" in node.roles or "etcd" in node.roles
        (waiting if core else left_out).append(why)
    return Membership(nodes, members, waiting, left_out)


@dataclass(frozen=True)
class Plan:
    membership: Membership
    document: dict[str, Any] | None = None  # cluster.yml, when membership is complete
    warnings: list[str] = field(default_factory=list)
    releases: list[addons.Release] = field(default_factory=list)

    @property
    def text(self) -> str:
        assert self.document is not None
        return clusteryml.to_text(self.document)

    @property
    def rke_digest(self) -> str:
        """What rke up applies: cluster.yml and which install of each node it reaches."""
        return _digest({"cluster.yml": self.document,
                        "members": [m.as_dict() for m in self.membership.members]})

    @property
    def digest(self) -> str:
        """The whole run: rke's part and the add-ons (no secrets)."""
        return _digest({"rke": self.rke_digest,
                        "addons": [r.describe() for r in self.releases]})


def make_plan(inv: Inventory, rows: Mapping[str, NodeRow], key_path: Path) -> Plan:
    """The run for the current nodes; raises ClusterYmlError when cluster.yml would be invalid."""
    found = membership(inv, rows)
    if not found.complete:
        return Plan(found)
    document = clusteryml.build(inv, found.nodes, key_path)
    _, warnings = clusteryml.check(document)
    return Plan(found, document, warnings, addons.plan(inv, found.nodes))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
