"""cluster.yml as data, checked by seedbed's strict model of rke's fields and by the fake's own."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from seedbed.cluster import clusteryml
from seedbed.cluster.clusteryml import ClusterYmlError
from seedbed.inventory import load_inventory
from seedbed.resources import default_inventory
from support import inventory_data, inventory_of

from . import rke_fields

KEY = Path("/srv/seedbed/state/ssh/id_ed25519")


@pytest.fixture(scope="module")
def lab_document() -> dict:
    inv = load_inventory(default_inventory()).inventory
    return clusteryml.build(inv, inv.nodes, KEY)


def test_the_example_lab_renders_a_cluster_yml_both_models_accept(lab_document) -> None:  # noqa: ANN001
    cluster, warnings = clusteryml.check(lab_document)
    assert warnings == [] and rke_fields.validate(lab_document) == []
    assert [n.name for n in cluster.nodes] == ["gpu01", "gpu02", "gpu03", "gpu04"]
    assert all(n.labels == {"nvidia.com/gpu.present": "true"} for n in cluster.nodes)
    assert {n.ssh_key_path for n in cluster.nodes} == {str(KEY)}
    assert cluster.services.kubelet.extra_args == {"resolv-conf": "/run/systemd/resolve/resolv.conf"}
    text = clusteryml.to_text(lab_document)
    assert "hostname_override: gpu04" in text and "kube-api" not in text


@pytest.mark.parametrize("where", ["node", "top", "service"])
def test_a_misspelt_key_is_an_error_in_both_models(lab_document, where: str) -> None:  # noqa: ANN001
    doc = copy.deepcopy(lab_document)
    if where == "node":
        doc["nodes"][1]["hostname_overide"] = doc["nodes"][1].pop("hostname_override")
        expected = "nodes[1].hostname_overide: unknown key"
    elif where == "top":
        doc["kubernetes_verison"] = doc.pop("kubernetes_version")
        expected = "kubernetes_verison: unknown key"
    else:
        doc["services"]["kubelet"]["extra_arg"] = {}
        expected = "services.kubelet.extra_arg: unknown key"
    with pytest.raises(ClusterYmlError) as caught:
        clusteryml.check(doc)
    assert any(p.startswith(expected) for p in caught.value.problems), caught.value.problems
    assert rke_fields.validate(doc) != []


def test_rke_rules_roles_unique_addresses_and_names(lab_document) -> None:  # noqa: ANN001
    doc = copy.deepcopy(lab_document)
    for node in doc["nodes"]:
        node["role"] = ["worker"]
    doc["nodes"][1]["address"] = doc["nodes"][0]["address"]
    doc["nodes"][3]["hostname_override"] = "gpu03"
    doc["nodes"][2]["hostname_override"] = "GPU03"
    with pytest.raises(ClusterYmlError) as caught:
        clusteryml.check(doc)
    problems = caught.value.problems
    assert "nodes: no node has the role etcd: rke needs at least one" in problems
    assert "nodes: no node has the role controlplane: rke needs at least one" in problems
    assert "nodes[1].address: '192.168.10.21' is used by another node" in problems
    assert any(p.startswith("nodes[2].hostname_override: 'GPU03' must be a lower-case") for p in problems)
    assert len(rke_fields.validate(doc)) >= 4


def test_an_even_etcd_count_is_a_warning_and_labels_are_checked(lab_document) -> None:  # noqa: ANN001
    doc = copy.deepcopy(lab_document)
    doc["nodes"][3]["role"] = ["etcd", "worker"]
    _, warnings = clusteryml.check(doc)
    assert warnings == ["4 etcd nodes: an even count tolerates no more failures than 3"]
    doc["nodes"][0]["labels"] = {"bad key!": "x"}
    with pytest.raises(ClusterYmlError, match="is not a Kubernetes label key"):
        clusteryml.check(doc)


def test_inventory_choices_reach_cluster_yml() -> None:
    data = inventory_data(cluster={"kubernetes_version": "v1.30.9-rancher1-1",
                                   "network_plugin": "calico"})
    inv = inventory_of(data)
    doc = clusteryml.build(inv, inv.nodes, KEY)
    assert doc["kubernetes_version"] == "v1.30.9-rancher1-1"
    assert doc["network"]["plugin"] == "calico"
    assert [n["role"] for n in doc["nodes"]] == [["controlplane", "etcd", "worker"], ["worker"]]
    assert doc["nodes"][0]["user"] == "labadmin"
