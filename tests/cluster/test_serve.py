"""Through a real `seedbed serve`: ready callbacks assemble the cluster, with fake rke/helm/kubectl."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import requests
import yaml

from seedbed.cluster import data
from seedbed.cluster.proc import process_start
from support import healthy_facts

from .conftest import NODES, cluster_yml, helm_values, lab_inventory, wait_for

CHART_ORDER = ["metallb", "cert-manager", "rancher", "nvidia-device-plugin",
               "nfs-subdir-external-provisioner"]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _step(call: dict) -> str:
    if call["tool"] == "helm":
        return f"helm {call['release']}"
    verb = "wait" if "wait" in call["argv"] else call["argv"][0]
    return f"{call['tool']} {verb}"


def test_ready_nodes_assemble_the_cluster_and_a_later_worker_joins(serve, fakes, tmp_path) -> None:  # noqa: ANN001
    kubeconfig_copy = tmp_path / "home" / "kubeconfig"
    svc = serve(lab_inventory(kubeconfig=str(kubeconfig_copy)))
    state = svc.state
    gpu01, cpu02, cpu03, gpu04 = NODES

    # The service's key exists from the start and reaches the seeds.
    public = (state / "ssh" / "id_ed25519.pub").read_text().strip()
    assert public.startswith("ssh-ed25519 ")
    assert _mode(state / "ssh" / "id_ed25519") == 0o600 and _mode(state / "ssh") == 0o700

    # gpu04 reports with swap on: unhealthy, and no job (controlplanes are not ready anyway).
    report = svc.make_ready(gpu04, healthy_facts(gpu04, swap_kib=2048))
    assert report["ready"]["status"] == "unhealthy"
    autoinstall = yaml.safe_load(report["user_data"])["autoinstall"]
    assert public in autoinstall["ssh"]["authorized-keys"]
    assert public in autoinstall["user-data"]["users"][0]["ssh_authorized_keys"]

    svc.make_ready(gpu01)
    svc.make_ready(cpu02)
    status = svc.status()
    assert svc.jobs() == [] and not status["ready"]
    assert any(w.startswith("cpu03 (") for w in status["waiting_for"]), status

    svc.make_ready(cpu03)
    first = svc.wait_job(svc.queued_job())
    assert len(svc.jobs()) == 1, "three ready nodes must start exactly one job"

    # Exactly one rke up, in the working folder, with a cluster.yml the strict fake accepted.
    (rke,) = fakes.calls("rke")
    assert rke["outcome"] == "ok" and rke["errors"] == []
    assert rke["argv"] == ["up", "--ignore-docker-version", "--config", "cluster.yml"]
    assert Path(rke["cwd"]) == state / "cluster" / "work"
    doc = cluster_yml(rke)
    assert [n["hostname_override"] for n in doc["nodes"]] == ["gpu01", "cpu02", "cpu03"]
    by_name = {n["hostname_override"]: n for n in doc["nodes"]}
    assert by_name["gpu01"] == {
        "address": "10.20.0.21", "port": "22", "internal_address": "10.20.0.21",
        "user": "labadmin", "role": ["controlplane", "etcd", "worker"],
        "hostname_override": "gpu01", "ssh_key_path": str(state / "ssh" / "id_ed25519"),
        "labels": {"lab/rack": "a", "nvidia.com/gpu.present": "true"}}
    assert "labels" not in by_name["cpu02"]
    assert doc["kubernetes_version"] == data.versions()["kubernetes_version"]
    assert doc["network"]["plugin"] == "canal"
    assert doc["services"]["kubelet"]["extra_args"]["resolv-conf"] == \
        "/run/systemd/resolve/resolv.conf"
    assert first["members"] == [{"hostname": h, "roles": ["controlplane", "etcd", "worker"],
                                 "install": first["members"][i]["install"]}
                                for i, h in enumerate(["gpu01", "cpu02", "cpu03"])]

    # Then the add-ons, in order, each pinned; MetalLB's pool after its webhook is ready.
    steps = [_step(c) for c in fakes.calls()]
    assert steps == ["rke up", "helm metallb", "kubectl wait", "kubectl apply",
                     *(f"helm {r}" for r in CHART_ORDER[1:])]
    pins = {c["release"]: c["version"] for c in data.versions()["charts"]}
    helm = {c["release"]: c for c in fakes.calls("helm")}
    for release, call in helm.items():
        argv = call["argv"]
        assert argv[argv.index("--version") + 1] == pins[release]
        assert "--wait" in argv and call["kubeconfig"] == str(state / "cluster" / "work" /
                                                                "kube_config_cluster.yml")
    apply = next(c for c in fakes.calls("kubectl") if c["argv"][0] == "apply")
    pool, l2 = yaml.safe_load_all(next(iter(apply["files"].values())))
    assert (pool["kind"], pool["spec"]["addresses"]) == ("IPAddressPool", ["10.20.0.240-10.20.0.250"])
    assert (l2["kind"], l2["spec"]["ipAddressPools"]) == ("L2Advertisement", ["seedbed-pool"])
    assert helm_values(helm["cert-manager"])["crds"] == {"enabled": True}
    assert helm_values(helm["nfs-subdir-external-provisioner"])["nfs"]["server"] == "10.20.0.5"
    assert helm_values(helm["nvidia-device-plugin"])["nodeSelector"] == \
        {"nvidia.com/gpu.present": "true"}
    rancher = helm_values(helm["rancher"])
    assert (rancher["hostname"], rancher["replicas"]) == ("ranch.lab.test", 3)

    # The generated bootstrap password: stored 0600, shown only with the admin token.
    assert requests.get(f"{svc.base}/api/v1/cluster/rancher-password", timeout=5).status_code == 401
    password = svc.admin("GET", "/api/v1/cluster/rancher-password").json()["bootstrap_password"]
    assert rancher["bootstrapPassword"] == password and len(password) >= 12
    assert _mode(state / "cluster" / "rancher-bootstrap-password") == 0o600
    assert all(password not in " ".join(c["argv"]) for c in fakes.calls())
    assert password not in svc.job(first["id"])["log"]

    # State saved, backed up, copied; never served without authentication.
    cluster_dir = state / "cluster"
    for name in ("cluster.rkestate", "kube_config_cluster.yml"):
        assert _mode(cluster_dir / name) == 0o600
    assert kubeconfig_copy.read_bytes() == (cluster_dir / "kube_config_cluster.yml").read_bytes()
    assert len(svc.status()["rkestate_backups"]) == 1
    for path in ("/files/../cluster/cluster.rkestate", "/files/%2e%2e/cluster/cluster.rkestate",
                 "/api/v1/cluster"):
        assert requests.get(f"{svc.base}{path}", timeout=5).status_code in (401, 404), path

    # gpu04 is reinstalled, reports healthy: a second run that adds it, --update-only.
    assert svc.admin("POST", "/api/v1/nodes/gpu04/reinstall").ok
    svc.make_ready(gpu04)
    second = svc.wait_job(svc.queued_job(after=first["id"]))
    assert second["id"] == first["id"] + 1 and second["update_only"] is True
    rke2 = fakes.calls("rke")[1]
    assert rke2["argv"][-1] == "--update-only" and rke2["state_existed"]
    doc2 = cluster_yml(rke2)
    assert [n["hostname_override"] for n in doc2["nodes"]] == ["gpu01", "cpu02", "cpu03", "gpu04"]
    assert doc2["nodes"][3]["labels"] == {"nvidia.com/gpu.present": "true"}
    assert [c["release"] for c in fakes.calls("helm")][5:] == CHART_ORDER
    backups = svc.status()["rkestate_backups"]
    assert len(backups) == 2 and backups[1].endswith(f".job{second['id']}")
    joined = svc.admin("GET", "/api/v1/nodes/gpu04/events").json()["events"]
    assert any(e["message"] == f"joined the cluster (job #{second['id']})" for e in joined)
    assert [m["hostname"] for m in svc.status()["members"]] == ["gpu01", "cpu02", "cpu03", "gpu04"]

    # The unhealthy report never reached any cluster.yml.
    unhealthy_runs = [c for c in fakes.calls("rke")
                      if any(n["hostname_override"] == "gpu04" for n in cluster_yml(c)["nodes"])]
    assert unhealthy_runs == [rke2]


def test_a_failing_rke_up_is_retried_with_its_log_kept(serve, fakes) -> None:  # noqa: ANN001
    fakes.control(rke={"fail_times": 3})
    one = [dict(NODES[1])]
    svc = serve(lab_inventory(one, load_balancer=None, nfs=None, rancher={"enabled": False}))
    svc.make_ready(one[0])
    wait_for("three failed attempts",
             lambda: [j for j in svc.jobs() if j["state"] == "failed"][2:])
    jobs = svc.jobs()
    assert [(j["state"], j["attempt"], j["retry_of"]) for j in jobs] == [
        ("failed", 1, None), ("failed", 2, jobs[0]["id"]), ("failed", 3, jobs[1]["id"])]
    assert "retrying in" in jobs[0]["outcome"] and jobs[0]["stage"] == "rke up"
    assert jobs[2]["outcome"] == "rke up: rke exited with status 1 (attempt 3 of 3)"
    for job in jobs:
        log = svc.job(job["id"])["log"]
        assert "$ " in log and "--ignore-docker-version" in log
        assert "FATA[0005] [workerPlane] Failed to bring up Worker Plane" in log
    assert len(fakes.calls("rke")) == 3
    assert svc.status()["rkestate_backups"] == []  # nothing saved from a failed run

    # Given up: only an admin's `up` runs it again (the fake now succeeds).
    response = svc.admin("POST", "/api/v1/cluster/up")
    assert response.status_code == 202
    done = svc.wait_job(response.json()["job"])
    assert done["force"] is True and done["attempt"] == 1
    assert len(svc.status()["rkestate_backups"]) == 1
    assert fakes.calls("helm") == []  # every add-on is off in this inventory


def test_a_service_killed_mid_job_leaves_a_truthful_record(serve, fakes) -> None:  # noqa: ANN001
    fakes.control(rke={"hang": True})
    one = [dict(NODES[1])]
    svc = serve(lab_inventory(one, load_balancer=None, nfs=None, rancher={"enabled": False}))
    svc.make_ready(one[0])
    job_id = svc.queued_job()
    wait_for("rke to hang", lambda: "hanging until stopped" in svc.job(job_id)["log"])
    (hung,) = fakes.calls("rke")
    assert svc.job(job_id)["state"] == "running"

    svc.kill()  # SIGKILL: no handler runs; the fake rke is orphaned, still running
    assert process_start(hung["pid"]) is not None
    fakes.control()  # rke behaves again
    svc.start()
    record = svc.wait_job(job_id, ("interrupted",))
    assert record["outcome"].startswith("seedbed stopped while this job was running")
    assert f"pid {hung['pid']}" in record["outcome"] and "stage: rke up" in record["outcome"]
    wait_for("the orphaned rke to be stopped", lambda: process_start(hung["pid"]) is None)
    log = svc.job(job_id)["log"]
    assert "Building up etcd plane" in log and "seedbed stopped while this job" in log

    rerun = svc.wait_job(job_id + 1)
    assert rerun["reason"] == f"re-run after interrupted job #{job_id}"
    assert [j["state"] for j in svc.jobs()] == ["interrupted", "succeeded"]
    assert len(svc.status()["rkestate_backups"]) == 1
    assert os.path.exists(svc.state / "cluster" / "cluster.rkestate")
