"""Read-only summaries of nodes and events, shared by the admin API and the CLI."""

from __future__ import annotations

from typing import Any

from .errors import NotFound
from .inventory import Inventory, Node
from .lifecycle import Lifecycle
from .store import EventRow


def node_summaries(inv: Inventory, lifecycle: Lifecycle) -> list[dict[str, Any]]:
    rows = {row.hostname: row for row in lifecycle.store.nodes()}
    out = []
    for node in inv.nodes:
        row = rows.get(node.hostname)
        out.append({
            "hostname": node.hostname,
            "macs": node.macs,
            "ip": str(node.ip),
            "roles": node.roles,
            "gpus": node.gpus,
            "state": row.state if row else "new",
            "armed": lifecycle.is_armed(row) if row else not node.adopted,
            "armed_until": row.armed_until if row else None,
            "since": row.state_since if row else None,
            "last_event": row.last_event if row else None,
            "last_event_at": row.last_event_at if row else None,
            "install": row.install_id if row else None,
            "health": row.health if row else [],
        })
    return out


def inventory_node(inv: Inventory, hostname: str) -> Node:
    """The inventory's node of that name, or NotFound."""
    node = inv.node_by_hostname(hostname)
    if node is None:
        raise NotFound(f"no node {hostname!r} in the inventory")
    return node


def node_detail(inv: Inventory, lifecycle: Lifecycle, hostname: str) -> dict[str, Any]:
    inventory_node(inv, hostname)
    summary = next(s for s in node_summaries(inv, lifecycle) if s["hostname"] == hostname)
    row = lifecycle.store.node(hostname)
    summary["facts"] = row.facts if row else None
    return summary


def event_dicts(events: list[EventRow]) -> list[dict[str, Any]]:
    return [{"id": e.id, "at": e.at, "hostname": e.hostname, "mac": e.mac,
             "install": e.install_id, "kind": e.kind, "message": e.message, "data": e.data}
            for e in events]
