"""Cluster jobs in-process: missing tools, webhook waits, add-on retries, forced and full runs."""

from __future__ import annotations

import time

import pytest

from seedbed.cluster import ClusterOptions
from seedbed.cluster import manager as manager_module
from seedbed.cluster.jobs import JobRunner
from support import wait_for

from .conftest import NODES, lab_inventory

ONE = [dict(NODES[1])]  # cpu02: controlplane, etcd, worker


def test_a_missing_tool_fails_the_job_saying_how_to_install_it(in_process, fakes, tmp_path,
                                                               monkeypatch) -> None:  # noqa: ANN001
    only_rke = tmp_path / "only-rke"
    only_rke.mkdir()
    (only_rke / "rke").symlink_to(fakes.bin / "rke")
    monkeypatch.setenv("PATH", f"{only_rke}:/usr/bin:/bin")
    lab = in_process(lab_inventory(ONE))
    lab.ready(ONE[0])
    (job,) = lab.run_jobs()
    assert (job.state, job.stage, job.attempt) == ("failed", "preflight", 1)
    assert job.outcome.startswith("preflight: FAIL charts: helm not found (not on PATH) -- fix: "
                                  "install Helm 3")
    assert fakes.calls() == []  # nothing ran, and no retry is queued for a missing tool


def test_a_configured_tool_path_must_be_an_executable(in_process, fakes) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(ONE, tools={"rke": "/opt/none/rke"}))
    lab.ready(ONE[0])
    (job,) = lab.run_jobs()
    assert "cluster.tools.rke is /opt/none/rke, not an executable file" in job.outcome
    assert "github.com/rancher/rke/releases" in job.outcome


def test_the_metallb_pool_waits_for_its_webhook(in_process, fakes) -> None:  # noqa: ANN001
    fakes.control(kubectl={"fail_times": 2})
    lab = in_process(lab_inventory(ONE, nfs=None, rancher={"enabled": False}))
    lab.ready(ONE[0])
    (job,) = lab.run_jobs()
    assert job.state == "succeeded", job.log
    applies = [c for c in fakes.calls("kubectl") if c["argv"][0] == "apply"]
    assert [c["outcome"] for c in applies] == ["fail", "fail", "ok"]
    assert job.log.count("the webhook does not answer yet") == 2
    assert "failed calling webhook" in job.log


def test_an_add_on_failure_is_retried_without_running_rke_again(in_process, fakes) -> None:  # noqa: ANN001
    fakes.control(helm={"fail_times": 1, "only": "rancher"})
    lab = in_process(lab_inventory(ONE))
    lab.ready(ONE[0])
    first, second = lab.run_jobs()
    assert (first.state, first.stage, first.rke_outcome) == ("failed", "add-on rancher", "ok")
    assert second.state == "succeeded" and second.retry_of == first.id
    assert len(fakes.calls("rke")) == 1
    assert "cluster.yml is unchanged since job" in second.log
    releases = [(c["release"], c["outcome"]) for c in fakes.calls("helm")]
    assert releases[:3] == [("metallb", "ok"), ("cert-manager", "ok"), ("rancher", "fail")]
    assert [r for r, _ in releases[3:]] == ["metallb", "cert-manager", "rancher",
                                             "nfs-subdir-external-provisioner"]


def test_nothing_changed_starts_no_job_but_an_admin_up_runs_rke(in_process, fakes) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(ONE, load_balancer=None, nfs=None, rancher={"enabled": False}))
    lab.ready(ONE[0])
    lab.run_jobs()
    cluster = lab.service.cluster
    assert cluster.reconcile("looked again") is None
    job_id = cluster.request_up("tests")
    *_, job = lab.run_jobs()
    assert (job.id, job.state, job.force, job.update_only) == (job_id, "succeeded", True, True)
    assert fakes.calls("rke")[-1]["argv"][-1] == "--update-only"


def test_a_reinstalled_etcd_node_gets_a_full_rke_up(in_process, fakes) -> None:  # noqa: ANN001
    two = [dict(NODES[1]), dict(NODES[3])]
    lab = in_process(lab_inventory(two, load_balancer=None, nfs=None, rancher={"enabled": False}))
    lab.ready(two[0])
    lab.ready(two[1])
    lab.run_jobs()
    lab.service.lifecycle.rearm("cpu02", 600, who="tests")
    lab.ready(two[0])  # a fresh install: a new etcd member under the same name
    *_, job = lab.run_jobs()
    assert job.state == "succeeded" and job.update_only is False
    assert "--update-only" not in fakes.calls("rke")[-1]["argv"]
    assert len(fakes.calls("rke")) == 2


def test_unhealthy_reports_never_reach_cluster_yml(in_process, fakes) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(load_balancer=None, nfs=None, rancher={"enabled": False}))
    for node in NODES[:3]:
        lab.ready(node)
    lab.ready(NODES[3], {"hostname": "gpu04", "gpus": [], "swap_kib": 0})  # no GPU, no docker
    (job,) = lab.run_jobs()
    assert [m["hostname"] for m in job.members] == ["gpu01", "cpu02", "cpu03"]
    assert "not in cluster.yml: gpu04 (unhealthy: 0 GPU(s) seen by nvidia-smi, 1 expected" in job.log
    status = lab.service.cluster.status()
    assert status["left_out"][0].startswith("gpu04 (unhealthy: ")


def test_options_come_from_the_environment() -> None:
    options = ClusterOptions.from_env({"SEEDBED_CLUSTER_ATTEMPTS": "5",
                                       "SEEDBED_CLUSTER_BACKOFF_SECONDS": "2",
                                       "SEEDBED_CLUSTER_AUTO": "off"})
    assert (options.attempts, options.auto) == (5, False)
    assert [options.backoff(n) for n in (1, 2, 3)] == [2, 4, 8]
    assert ClusterOptions(backoff_seconds=600).backoff(4) == 900  # capped
    with pytest.raises(ValueError, match="SEEDBED_CLUSTER_ATTEMPTS='x'"):
        ClusterOptions.from_env({"SEEDBED_CLUSTER_ATTEMPTS": "x"})
    with pytest.raises(ValueError, match="must be >= 1"):
        ClusterOptions.from_env({"SEEDBED_CLUSTER_ATTEMPTS": "0"})


def test_a_node_ready_during_a_run_queues_exactly_one_more(in_process, fakes) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(ONE, load_balancer=None, nfs=None, rancher={"enabled": False}))
    jobs = lab.service.cluster.jobs
    running = jobs.start_now("a run in progress", "tests")
    jobs.update(running, digest="an older plan")
    lab.ready(ONE[0])  # reconciles: the running job applies something else
    queued = jobs.next_queued()
    assert queued is not None and queued.reason == "cpu02 reported ready"
    assert lab.service.cluster.reconcile("again") is None  # the queued job plans afresh
    assert [j.state for j in jobs.recent()] == ["queued", "running"]


def test_ready_reports_are_planned_by_the_worker_in_one_go(in_process, fakes) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(ONE, load_balancer=None, nfs=None, rancher={"enabled": False}))
    cluster = lab.service.cluster
    running = cluster.jobs.start_now("a run in progress", "tests")
    cluster.jobs.update(running, digest="an older plan")
    lab.ready(ONE[0], reconcile=False)
    assert cluster.jobs.next_queued() is None, "the ready callback itself planned the cluster"
    cluster.node_ready("gpu01")  # another report before the worker's turn
    job_id = cluster.reconcile_reported()
    queued = cluster.jobs.job(job_id) if job_id is not None else None
    assert queued is not None and queued.reason == "cpu02, gpu01 reported ready"
    assert cluster.reconcile_reported() is None  # nothing noted since


class FrozenTime:
    """The manager's monotonic clock, moved by hand (its other uses of `time` kept)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.time = time.time

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> FrozenTime:
    clock = FrozenTime()
    monkeypatch.setattr(manager_module, "time", clock)
    return clock


def test_a_burst_of_ready_reports_is_planned_once_it_settles(in_process, fakes,
                                                             frozen) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(), ready_settle_seconds=5.0)
    cluster = lab.service.cluster
    lab.ready(NODES[0], reconcile=False)
    assert (cluster.reconcile_reported(), cluster._before_turn()) == (None, 5.0)
    frozen.now += 3
    for node in NODES[1:3]:
        lab.ready(node, reconcile=False)
    assert cluster._before_turn() == 5.0  # the quiet time counts from the latest report
    frozen.now += 4.9
    lab.ready(NODES[3], reconcile=False)
    frozen.now += 4.9
    assert cluster._before_turn() == pytest.approx(0.1)
    assert cluster.jobs.next_queued() is None, "planned before the reports settled"
    frozen.now += 0.1
    assert cluster._before_turn() is None  # planned: nothing left to wait for
    queued = cluster.jobs.next_queued()
    assert queued is not None and queued.reason == "gpu01, cpu02, cpu03, gpu04 reported ready"
    assert len(cluster.jobs.recent()) == 1


def test_reports_that_keep_coming_are_planned_at_the_latest_after_the_settle_maximum(
        in_process, fakes, frozen) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(), ready_settle_seconds=5.0, ready_settle_max_seconds=12.0)
    cluster = lab.service.cluster
    for node in NODES[:3]:
        lab.ready(node, reconcile=False)
        frozen.now += 4
    lab.service.cluster.node_ready("gpu04")  # a report still coming (t=12: not yet ready)
    frozen.now -= 0.1
    assert cluster.reconcile_reported() is None
    frozen.now += 0.1
    job_id = cluster.reconcile_reported()
    queued = cluster.jobs.job(job_id) if job_id is not None else None
    assert queued is not None and queued.reason == "gpu01, cpu02, cpu03, gpu04 reported ready"


def test_the_runner_looks_again_when_its_before_step_asks(in_process, fakes,
                                                          tmp_path) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(ONE))
    turns: list[float] = []

    def before() -> float:
        turns.append(time.monotonic())
        return 0.02

    runner = JobRunner(lab.service.cluster.jobs, tmp_path / "lock", lambda job, log: "ok",
                       attempts=1, backoff=lambda n: 0.0, runner="tests", before=before,
                       idle_seconds=30.0, thread_name="test-jobs")
    runner.start()
    try:
        wait_for("three turns of the runner (idle is 30 s)", lambda: len(turns) >= 3, timeout=5)
    finally:
        runner.stop()


def test_a_kubeconfig_copy_that_fails_is_reported_not_retried(in_process, fakes,
                                                              tmp_path) -> None:  # noqa: ANN001
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    # Preflight refuses this target before rke up (tests/cluster/test_preflight.py): skipped
    # here, as if the folder broke while rke ran.
    lab = in_process(lab_inventory(ONE, load_balancer=None, nfs=None, rancher={"enabled": False},
                                   kubeconfig=str(blocker / "config")),
                     preflight_skip="dns,nfs,ssh,backups")
    lab.ready(ONE[0])
    (job,) = lab.run_jobs()
    assert job.state == "succeeded" and job.rke_outcome == "ok"
    assert f"warning: kubeconfig not copied to {blocker / 'config'}" in job.log
    events = [e.message for e in lab.service.store.events()]
    assert any(m.startswith(f"kubeconfig not copied to {blocker / 'config'}") for m in events)
