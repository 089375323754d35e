"""Which add-ons a cluster gets, in which order, with which values; the bootstrap password."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from seedbed.cluster import addons, data
from seedbed.cluster.state import ClusterPaths, password_source, rancher_password
from support import inventory_of

from .conftest import lab_inventory


def inventory(**cluster):  # noqa: ANN003, ANN201
    return inventory_of(lab_inventory(**cluster))


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


def _with_charts(monkeypatch, charts: list[dict]) -> None:  # noqa: ANN001
    versions = data.versions()
    monkeypatch.setattr(data, "versions", lambda: {**versions, "charts": charts})


def test_every_chart_says_when_it_is_installed() -> None:
    charts = data.versions()["charts"]
    assert all(chart["when"] in addons.WHEN for chart in charts)
    assert {c["release"]: c["when"] for c in charts}["nvidia-device-plugin"] == "gpu_nodes"


def test_a_chart_with_an_unknown_or_no_condition_is_an_error(monkeypatch) -> None:  # noqa: ANN001
    inv = inventory()
    charts = data.versions()["charts"]
    toy = {"release": "toy", "chart": "toy", "version": "1.0.0", "namespace": "toy", "repo": "x"}
    for when in ({"when": "sometimes"}, {}):
        _with_charts(monkeypatch, [*charts, {**toy, **when}])
        with pytest.raises(addons.UnknownAddon, match="chart 'toy' has when: "):
            addons.plan(inv, inv.nodes)
    # Even where the others would not be installed: the data is wrong, not the cluster.
    with pytest.raises(addons.UnknownAddon):
        addons.plan(inventory(load_balancer=None, nfs=None, rancher={"enabled": False}), [])


def test_a_new_chart_is_data_and_values_for_a_dropped_chart_are_an_error(monkeypatch) -> None:  # noqa: ANN001
    inv = inventory()
    charts = data.versions()["charts"]
    toy = {"release": "toy", "when": "always", "chart": "toy", "version": "1.0.0",
           "namespace": "toy", "repo": "https://charts.lab.test"}
    _with_charts(monkeypatch, [*charts, toy])
    real_values = data.chart_values
    monkeypatch.setattr(data, "chart_values",
                        lambda name: {"toy": True} if name == "toy" else real_values(name))
    releases = addons.plan(inv, [])
    assert releases[-1].release == "toy" and releases[-1].values == {"toy": True}
    _with_charts(monkeypatch, [c for c in charts if c["release"] != "rancher"])
    with pytest.raises(addons.UnknownAddon, match="'rancher', which rke/versions.yaml does not list"):
        addons.plan(inv, inv.nodes)
