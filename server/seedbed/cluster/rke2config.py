"""RKE2's per-node /etc/rancher/rke2/config.yaml, built as data from the inventory.

RKE2 nodes configure themselves: each reads its config.yaml at start (rancher/rke2's
configfilearg; keys are the long flag names of `rke2 server` / `rke2 agent`). Nodes with the
controlplane or etcd role run `rke2 server`, the others `rke2 agent`; the first such server
(inventory order) starts the cluster and every other node joins it through its supervisor
port. The keys written here are checked against an allow-list of rke2's flags in the tests
(tests/cluster/rke2_flags.py), since rke2 refuses a config.yaml with an unknown key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import yaml

from ..inventory import Inventory, Node
from . import addons, data
from .clusteryml import GPU_LABEL, SYSTEMD_RESOLV_CONF


class Rke2ConfigError(Exception):
    """The inventory cannot make an RKE2 cluster (no server node)."""


def is_server(node: Node) -> bool:
    return "controlplane" in node.roles or "etcd" in node.roles


def first_server(inv: Inventory) -> Node:
    """The node that starts the cluster: the inventory's first controlplane/etcd node."""
    for node in inv.nodes:
        if is_server(node):
            return node
    raise Rke2ConfigError("no node has the controlplane or etcd role: RKE2 needs a server")


def supervisor_url(inv: Inventory) -> str:
    return f"https://{first_server(inv).ip}:{data.rke2_versions()['supervisor_port']}"


def api_url(inv: Inventory) -> str:
    return f"https://{first_server(inv).ip}:{data.rke2_versions()['api_port']}"


def node_labels(node: Node) -> list[str]:
    labels = dict(node.labels)
    if node.gpus:
        labels[GPU_LABEL] = "true"  # the NVIDIA device plugin schedules on this label
    return [f"{key}={value}" for key, value in sorted(labels.items())]


def disabled(inv: Inventory, members: Sequence[Node]) -> list[str]:
    """rke2's packaged components an add-on of this inventory replaces (rke/rke2/versions.yaml)."""
    table = data.rke2_versions()["disable_for_addons"] or {}
    found: list[str] = []
    for release in addons.plan(inv, members):
        for item in table.get(release.release, []):
            if item not in found:
                found.append(item)
    return found


def tls_sans(inv: Inventory, node: Node) -> list[str]:
    """Names the API certificate must carry: the node's address and names."""
    return [str(node.ip), node.hostname, inv.fqdn(node)]


def node_config(inv: Inventory, node: Node, token: str | None) -> dict[str, Any]:
    """config.yaml for one node; token None leaves it out (plans and digests hold no secret)."""
    pins = data.rke2_versions()
    server = is_server(node)
    config: dict[str, Any] = {}
    if node.hostname != first_server(inv).hostname:
        config["server"] = supervisor_url(inv)
    if token is not None:
        config["token"] = token
    config["node-name"] = node.hostname
    config["node-ip"] = [str(node.ip)]
    labels = node_labels(node)
    if labels:
        config["node-label"] = labels
    if server and "worker" not in node.roles:
        config["node-taint"] = [pins["dedicated_server_taint"]]
    config["resolv-conf"] = SYSTEMD_RESOLV_CONF  # systemd-resolved's stub makes a CoreDNS loop
    if server:
        config["tls-san"] = tls_sans(inv, node)
        config["cni"] = [inv.cluster.network_plugin]
        config["ingress-controller"] = [pins["ingress_controller"]]
        config["write-kubeconfig-mode"] = pins["kubeconfig_mode"]
        config["write-kubeconfig-group"] = inv.admin.username  # seedbed reads it over SSH
        gone = disabled(inv, inv.nodes)
        if gone:
            config["disable"] = gone
    return config


def plan_document(inv: Inventory, members: Sequence[Node]) -> dict[str, Any]:
    """What an RKE2 run expects of the cluster (no token): goes into the plan's digest."""
    return {"engine": "rke2",
            "rke2_version": str(data.rke2_versions()["rke2_version"]),
            "first_server": first_server(inv).hostname,
            "nodes": {n.hostname: {"type": "server" if is_server(n) else "agent",
                                   "config": node_config(inv, n, None)} for n in members}}


def to_text(config: dict[str, Any]) -> str:
    header = "# Written by seedbed from the inventory at first boot; rke2 reads it at start.\n"
    return header + yaml.safe_dump(config, sort_keys=False, default_flow_style=False)
