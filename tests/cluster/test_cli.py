"""`seedbed render cluster-yml` and `seedbed cluster status|up|password|log`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

from seedbed import cli

from . import rke_fields
from .conftest import NODES, lab_inventory, wait_for

ONE = [dict(NODES[1])]


def _args(lab, *words: str) -> list[str]:  # noqa: ANN001
    settings = lab.service.settings
    return [*words, "--inventory", str(settings.inventory_path), "--state", str(settings.state_dir)]


def test_render_cluster_yml_shows_every_inventory_node(in_process, capsys) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory())
    assert cli.main(_args(lab, "render", "cluster-yml")) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert [n["hostname_override"] for n in document["nodes"]] == [n["hostname"] for n in NODES]
    assert rke_fields.validate(document) == []
    assert not (lab.service.settings.state_dir / "cluster" / "work" / "cluster.yml").exists()


def test_render_ready_only_waits_for_the_controlplane(in_process, capsys) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(), auto=False)
    assert cli.main(_args(lab, "render", "cluster-yml", "--ready")) == 1
    assert "not every controlplane and etcd node is ready and healthy: gpu01 (new)" in \
        capsys.readouterr().err
    for node in NODES[:3]:
        lab.ready(node)
    assert cli.main(_args(lab, "render", "cluster-yml", "--ready")) == 0
    document = yaml.safe_load(capsys.readouterr().out)
    assert [n["hostname_override"] for n in document["nodes"]] == ["gpu01", "cpu02", "cpu03"]


def test_cluster_up_runs_in_the_foreground_then_status_shows_it(in_process, capsys,
                                                               monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SEEDBED_CLUSTER_AUTO", "0")
    lab = in_process(lab_inventory(ONE, load_balancer=None, nfs=None), auto=False)
    lab.ready(ONE[0])
    assert cli.main(_args(lab, "cluster", "up")) == 0
    out = capsys.readouterr().out
    assert "Finished building Kubernetes cluster successfully" in out
    assert "cluster job #1 succeeded: 1 nodes (cpu02); rke up; add-ons: cert-manager, rancher" in out
    job = lab.service.cluster.jobs.job(1)
    assert job is not None and job.runner.startswith("cli pid ")

    assert cli.main(_args(lab, "cluster", "status")) == 0
    status = capsys.readouterr().out
    assert "in the cluster (since job #1): cpu02 (controlplane/etcd/worker)" in status
    assert "cluster.rkestate backups: 1" in status
    assert "rancher: https://ranch.lab.test (bootstrap password: generated" in status
    assert cli.main(_args(lab, "cluster", "password")) == 0
    password = capsys.readouterr().out.strip()
    assert password and password not in status and password not in job.log
    assert cli.main(_args(lab, "cluster", "log", "1")) == 0
    assert "$ " in capsys.readouterr().out


def test_cluster_up_refuses_while_another_process_runs_a_job(in_process, capsys,
                                                            tmp_path: Path) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(ONE), auto=False)
    lock = lab.service.cluster.paths.lock
    lab.service.cluster.paths.prepare()  # as start() does: the other process locks first
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, sys, time\n"
         f"f = open({str(lock)!r}, 'w'); fcntl.lockf(f, fcntl.LOCK_EX)\n"
         "print('locked', flush=True); time.sleep(30)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None
        wait_for("the other process to take the lock", lambda: holder.stdout.readline())
        assert cli.main(_args(lab, "cluster", "up")) == 1
        assert "another cluster job is running" in capsys.readouterr().err
        assert lab.service.cluster.jobs.recent() == []
    finally:
        holder.kill()
        holder.wait()


def test_status_and_log_only_look(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    """An admin's `cluster status` (often as root, beside a service running as its own user)
    creates and changes nothing in the state folder, not even the folder."""
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(lab_inventory()))
    state = tmp_path / "state"
    where = ["--inventory", str(path), "--state", str(state)]
    assert cli.main(["cluster", "status", *where]) == 0
    assert "waiting for: gpu01 (new)" in capsys.readouterr().out
    assert cli.main(["cluster", "log", *where]) == 1
    assert "no such cluster job" in capsys.readouterr().err
    assert not state.exists()
