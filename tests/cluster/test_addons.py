"""Which add-ons a cluster gets, in which order, with which values; the bootstrap password."""

from __future__ import annotations

import stat
from pathlib import Path

import yaml

from seedbed.cluster import addons, data
from seedbed.cluster.state import ClusterPaths, password_source, rancher_password
from seedbed.inventory import parse_inventory

from .conftest import lab_inventory


def inventory(**cluster):  # noqa: ANN003, ANN201
    return parse_inventory(yaml.safe_dump(lab_inventory(**cluster))).inventory


def test_every_add_on_in_order_with_the_inventory_values() -> None:
    inv = inventory()
    releases = addons.plan(inv, inv.nodes)
    assert [r.release for r in releases] == [c["release"] for c in data.versions()["charts"]]
    by_name = {r.release: r for r in releases}
    assert by_name["metallb"].values == {"speaker": {"frr": {"enabled": False}}}
    assert by_name["metallb"].manifests[0]["spec"]["addresses"] == ["10.20.0.240-10.20.0.250"]
    assert by_name["metallb"].webhook_deployment == "metallb-controller"
    rancher = by_name["rancher"]
    assert rancher.values == {"hostname": "ranch.lab.test", "replicas": 3,
                              "ingress": {"tls": {"source": "rancher"}}}
    assert rancher.needs_password and "bootstrapPassword" not in str(rancher.describe())
    assert by_name["nfs-subdir-external-provisioner"].values["nfs"] == {
        "server": "10.20.0.5", "path": "/volume1/k8s", "mountOptions": ["nfsvers=4.1"]}


def test_optional_add_ons_follow_the_inventory_and_the_nodes() -> None:
    inv = inventory(load_balancer=None, nfs=None, rancher={"enabled": False})
    no_gpu = [n for n in inv.nodes if not n.gpus]
    assert addons.plan(inv, no_gpu) == []
    assert [r.release for r in addons.plan(inv, inv.nodes)] == ["nvidia-device-plugin"]


def test_rancher_replicas_never_exceed_the_workers() -> None:
    inv = inventory(rancher={"replicas": 5})
    (rancher,) = [r for r in addons.plan(inv, inv.nodes[:2]) if r.release == "rancher"]
    assert rancher.values["replicas"] == 2
    default = inventory(rancher={})
    (rancher,) = [r for r in addons.plan(default, default.nodes) if r.release == "rancher"]
    assert rancher.values["hostname"] == "rancher.lab.test"


def test_the_bootstrap_password_is_generated_once_or_taken_from_the_inventory(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path / "cluster")
    paths.prepare()
    inv = inventory()
    assert password_source(inv, paths) == "not generated yet"
    first = rancher_password(inv, paths)
    assert len(first) >= 20 and rancher_password(inv, paths) == first
    assert stat.S_IMODE(paths.rancher_password.stat().st_mode) == 0o600
    assert password_source(inv, paths) == "generated"
    given = inventory(rancher={"bootstrap_password": "correct-horse-battery"})
    assert rancher_password(given, paths) == "correct-horse-battery"
    assert password_source(given, paths) == "inventory"
