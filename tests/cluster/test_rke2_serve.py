"""RKE2 through a real `seedbed serve`: nodes start rke2 with the config their first boot writes,
report ready over HTTP, and seedbed converges the cluster with strict fakes of the node side
(rke2, ssh), kubectl and helm.

The first-boot part is not wired into the served seeds yet (issue 14 after the first-boot
restructure): each node's rke2 start here runs the fake `rke2` on the config.yaml that
`rke2_first_boot` gives for it, with the token from the state folder as seeds will serve it.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbed.cli.cluster import status_text
from seedbed.cluster import rke2token
from seedbed.cluster.rke2 import rke2_first_boot
from seedbed.cluster.state import ClusterPaths
from seedbed.inventory import parse_inventory

from . import fake_tool
from .conftest import NODES, helm_values, lab_inventory
from .test_serve import CHART_ORDER

GPU01, CPU02, CPU03, GPU04 = NODES


@pytest.fixture
def rke2_fakes(fakes):  # noqa: ANN001, ANN201
    fake_tool.install(fakes.bin, ("rke2", "ssh"))  # the node side, beside rke/helm/kubectl
    return fakes


def start_rke2(svc: Any, fakes: Any, node: dict[str, Any]) -> dict[str, Any]:
    """What the node's first boot does, ending in rke2's start (the fake joins it)."""
    inv = parse_inventory(svc.inventory.read_text()).inventory
    target = next(n for n in inv.nodes if n.hostname == node["hostname"])
    paths = ClusterPaths(svc.state / "cluster")
    token = rke2token.token_for(paths, node["hostname"] == GPU01["hostname"])
    boot = rke2_first_boot(inv, target, token)
    config = svc.state.parent / f"{node['hostname']}-config.yaml"
    config.write_text(boot["files"][0]["content"])
    done = subprocess.run([str(fakes.bin / "rke2"), boot["type"], "--config", str(config)],
                          env={**os.environ, **fakes.env()}, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 0, f"rke2 {boot['type']} on {node['hostname']}: {done.stdout}"
    return {"token": token, "boot": boot}


def test_rke2_members_converge_to_add_ons_through_ready_callbacks(serve, rke2_fakes) -> None:  # noqa: ANN001
    fakes = rke2_fakes
    svc = serve(lab_inventory(engine="rke2"), SEEDBED_CLUSTER_NODES_TIMEOUT="5",
                SEEDBED_CLUSTER_ATTEMPTS="1")
    paths = ClusterPaths(svc.state / "cluster")
    assert stat.S_IMODE(paths.rke2_token.stat().st_mode) == 0o600, "token made at start"
    secret = rke2token.read_token(paths)

    status = svc.status()
    assert status["engine"] == "rke2"
    assert "ready callback of the first server gpu01" in status["engine_waits_for"]
    assert "engine: rke2 (waits for the ready callback of the first server gpu01" in \
        status_text(status)

    # The servers start rke2 and report ready; nothing runs before the last one reports.
    for node in (GPU01, CPU02):
        joined = start_rke2(svc, fakes, node)
        assert joined["token"] == secret, "no CA known yet: the bare secret"
        svc.make_ready(node)
    assert svc.jobs() == [] and "other servers: cpu03" in svc.status()["engine_waits_for"]
    start_rke2(svc, fakes, CPU03)
    svc.make_ready(CPU03)
    first = svc.wait_job(svc.queued_job(), ("succeeded", "failed"))
    assert first["state"] == "succeeded", f"{first['stage']}: {first['outcome']}"
    assert first["engine"] == "rke2"
    log = svc.job(first["id"])["log"]

    # The kubeconfig came over SSH from the first server, as the admin, with the service key.
    (ssh,) = fakes.calls("ssh")
    admin = parse_inventory(svc.inventory.read_text()).inventory.admin.username
    assert ssh["outcome"] == "ok" and ssh["argv"][-3:] == [
        f"{admin}@10.20.0.21", "cat", "/etc/rancher/rke2/rke2.yaml"]
    assert ssh["argv"][ssh["argv"].index("-i") + 1] == str(svc.state / "ssh" / "id_ed25519")
    assert "FAKEKEY" not in log, "the kubeconfig's keys must not reach the job log"
    saved = yaml.safe_load(paths.kubeconfig.read_text())
    assert saved["clusters"][0]["cluster"]["server"] == "https://10.20.0.21:6443"
    assert stat.S_IMODE(paths.kubeconfig.stat().st_mode) == 0o600
    names = sorted(p.name.split(".")[0] for p in paths.backups.iterdir())
    assert names == ["kube_config_cluster", "rke2-token"], names

    # Every member Ready, then the runtime class, then the same add-ons as with RKE.
    steps = [c for c in fakes.calls() if c["tool"] in ("kubectl", "helm")]
    assert steps[0]["argv"][:2] == ["get", "nodes"] and steps[0]["outcome"] == "ok"
    assert steps[1]["argv"][0] == "apply" and "RuntimeClass" in next(iter(steps[1]["files"].values()))
    releases = [c["release"] for c in fakes.calls("helm")]
    assert releases == CHART_ORDER
    nvidia = next(c for c in fakes.calls("helm") if c["release"] == "nvidia-device-plugin")
    assert helm_values(nvidia) == {"nodeSelector": {"nvidia.com/gpu.present": "true"},
                                   "runtimeClassName": "nvidia"}
    assert first["outcome"].startswith("3 nodes (gpu01, cpu02, cpu03); rke2: every member Ready")

    # The worker that boots now gets the K10 token pinning the CA; the fake rke2 checks the hash.
    joined = start_rke2(svc, fakes, GPU04)
    assert joined["token"].startswith("K10") and joined["token"].endswith(f"::server:{secret}")
    assert "K10 (CA pinned)" in svc.status()["engine_waits_for"]
    svc.make_ready(GPU04)
    second = svc.wait_job(svc.queued_job(first["id"]), ("succeeded", "failed"))
    assert second["state"] == "succeeded", f"{second['stage']}: {second['outcome']}"
    assert [m["hostname"] for m in second["members"]] == ["gpu01", "cpu02", "cpu03", "gpu04"]
    last_nodes = [c for c in fakes.calls("kubectl") if c["argv"][:2] == ["get", "nodes"]][-1]
    assert last_nodes["nodes"] == ["cpu02", "cpu03", "gpu01", "gpu04"]


def test_a_member_that_never_gets_ready_fails_the_job_naming_it(serve, rke2_fakes) -> None:  # noqa: ANN001
    fakes = rke2_fakes
    fakes.control(kubectl={"not_ready": ["cpu03"]})
    svc = serve(lab_inventory(engine="rke2"), SEEDBED_CLUSTER_NODES_TIMEOUT="0.5",
                SEEDBED_CLUSTER_ATTEMPTS="1")
    for node in (GPU01, CPU02, CPU03):
        start_rke2(svc, fakes, node)
        svc.make_ready(node)
    job = svc.wait_job(svc.queued_job(), ("failed",))
    assert job["stage"] == "wait for nodes Ready"
    assert "not Ready yet: cpu03 after 0s" in job["outcome"], job["outcome"]
    assert fakes.calls("helm") == [], "no add-on before every member is Ready"


def test_a_wrong_token_or_server_is_refused_by_the_node_side(serve, rke2_fakes,  # noqa: ANN001
                                                             tmp_path: Path) -> None:
    fakes = rke2_fakes
    svc = serve(lab_inventory(engine="rke2"))
    start_rke2(svc, fakes, GPU01)
    inv = parse_inventory(svc.inventory.read_text()).inventory
    boot = rke2_first_boot(inv, inv.nodes[1], "0" * 64)
    config = tmp_path / "bad.yaml"
    config.write_text(boot["files"][0]["content"])
    done = subprocess.run([str(fakes.bin / "rke2"), "server", "--config", str(config)],
                          env={**os.environ, **fakes.env()}, capture_output=True, text=True,
                          timeout=30, check=False)
    assert done.returncode == 1 and "token rejected" in done.stdout
