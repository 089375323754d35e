"""Who is in the cluster now, and what a run would apply: cluster.yml plus the add-ons.

The trigger rule: every controlplane and etcd node of the inventory must be
ready and healthy; workers join when they are. A node that is not ready, or
ready but unhealthy, is left out of cluster.yml.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..inventory import Inventory, Node
from ..store import NodeRow
from . import addons, clusteryml, data


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
    """The run for the current nodes; raises ClusterYmlError when cluster.yml would be invalid.

    With RKE2 the document is what the nodes' config.yaml files hold (no token), not cluster.yml.
    """
    found = membership(inv, rows)
    if not found.complete:
        return Plan(found)
    releases = addons.plan(inv, found.nodes)
    if inv.cluster.engine == "rke2":
        from . import rke2config  # imports this module's neighbours, not the other way round

        return Plan(found, rke2config.plan_document(inv, found.nodes), [],
                    [_rke2_values(r) for r in releases])
    document = clusteryml.build(inv, found.nodes, key_path)
    _, warnings = clusteryml.check(document)
    return Plan(found, document, warnings, releases)


def _rke2_values(release: addons.Release) -> addons.Release:
    """A chart's values with RKE2's overlay (rke/rke2/values/), e.g. containerd's nvidia runtime."""
    overlay = data.rke2_chart_values(release.release)
    return replace(release, values={**release.values, **overlay}) if overlay else release


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()
