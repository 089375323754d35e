"""The inventory's optional `cluster:` section: defaults, and addresses checked against the site."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from seedbed.inventory import InventoryError, load_inventory, parse_inventory
from seedbed.resources import default_inventory
from support import inventory_data, inventory_of


def problems(cluster: dict[str, Any]) -> list[str]:
    with pytest.raises(InventoryError) as caught:
        inventory_of(inventory_data(cluster=cluster))
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


def test_every_key_is_optional() -> None:
    inv = inventory_of(inventory_data())
    cluster = inv.cluster
    assert (cluster.network_plugin, cluster.load_balancer, cluster.nfs) == ("canal", None, None)
    assert cluster.rancher.enabled and cluster.rancher.bootstrap_password is None


def test_the_example_lab_has_a_realistic_cluster_section() -> None:
    cluster = load_inventory(default_inventory()).inventory.cluster
    assert cluster.load_balancer == "192.168.10.240-192.168.10.250"
    assert cluster.nfs is not None and cluster.nfs.path == "/volume1/k8s"
    assert cluster.rancher.hostname == "rancher.lab.internal"


def test_a_cidr_pool_is_accepted_as_a_range() -> None:
    inv = inventory_of(inventory_data(
        cluster={"load_balancer": "10.20.0.240/29"}))
    assert inv.cluster.load_balancer == "10.20.0.240-10.20.0.247"


@pytest.mark.parametrize(("cluster", "expected"), [
    ({"load_balancer": "10.30.0.10-10.30.0.20"},
     "cluster.load_balancer: 10.30.0.10-10.30.0.20 is not inside the subnet 10.20.0.0/24"),
    ({"load_balancer": "10.20.0.15-10.20.0.30"},
     "cluster.load_balancer: 10.20.0.15-10.20.0.30 includes 10.20.0.21 (node gpu01)"),
    ({"load_balancer": "10.20.0.0-10.20.0.3"},
     "cluster.load_balancer: 10.20.0.0-10.20.0.3 includes 10.20.0.1 (the gateway)"),
    ({"load_balancer": "10.20.0.50-10.20.0.40"},
     "cluster.load_balancer: '10.20.0.50-10.20.0.40': give first-last with first <= last"),
    ({"kubernetes_version": "1.30"},
     "cluster.kubernetes_version: '1.30' is not an RKE Kubernetes version such as "
     "v1.30.14-rancher1-1"),
    ({"nfs": {"server": "nas", "path": "volume1/k8s"}},
     "cluster.nfs.path: export path 'volume1/k8s' is not an absolute path"),
    ({"rancher": {"bootstrap_password": "short"}},
     "cluster.rancher.bootstrap_password: bootstrap_password needs at least 12 characters"),
    ({"tools": {"rke": "rke"}}, "cluster.tools.rke: rke 'rke' is not an absolute path"),
    ({"network_plugn": "canal"}, "cluster.network_plugn: unknown key 'network_plugn'"),
])
def test_bad_cluster_settings_are_named(cluster: dict[str, Any], expected: str) -> None:
    found = problems(cluster)
    assert any(p.startswith(expected) for p in found), found


def test_weave_is_refused_from_kubernetes_1_30_with_its_line() -> None:
    text = yaml.safe_dump(inventory_data(cluster={"network_plugin": "weave"}), sort_keys=False)
    with pytest.raises(InventoryError) as caught:
        parse_inventory(text)
    (problem,) = caught.value.problems
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "network_plugin" in ln)
    assert (problem.path, problem.line) == ("cluster.network_plugin", line)
    assert problem.message == ("rke refuses weave for Kubernetes >= 1.30 (v1.30.14-rancher1-1 "
                               "here): use one of canal, calico, flannel, none")
    older = inventory_of(inventory_data(cluster={
        "network_plugin": "weave", "kubernetes_version": "v1.29.15-rancher1-1"}))
    assert older.cluster.network_plugin == "weave"


def test_an_unknown_network_plugin_is_refused() -> None:
    assert problems({"network_plugin": "cilium"}) == [
        "cluster.network_plugin: 'cilium' is not a network plugin rke supports: use one of "
        "canal, calico, flannel, weave, none"]
