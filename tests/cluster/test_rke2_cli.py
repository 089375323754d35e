"""`seedbed render rke2-config`, `cluster preflight` and `cluster status` with cluster.engine rke2."""

from __future__ import annotations

import yaml

from seedbed import cli
from seedbed.cluster import rke2token

from . import rke2_flags
from .conftest import NODES, lab_inventory
from .test_cli import _args
from .test_preflight import _line, _preflight


def test_render_rke2_config_masks_the_token_unless_asked(in_process, capsys) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(engine="rke2"))
    mac = NODES[1]["macs"][0]
    assert cli.main(_args(lab, "render", "rke2-config", "--mac", mac)) == 0
    config = yaml.safe_load(capsys.readouterr().out)
    assert config["token"].startswith("<the cluster token") and rke2_flags.validate(
        config, "server") == []
    assert config["server"] == "https://10.20.0.21:9345"
    secret = rke2token.ensure_token(lab.service.cluster.paths)
    assert cli.main(_args(lab, "render", "rke2-config", "--mac", mac, "--show-secrets")) == 0
    assert yaml.safe_load(capsys.readouterr().out)["token"] == secret
    assert cli.main(_args(lab, "render", "rke2-config", "--mac", "52:54:00:ff:ff:ff")) == 1
    assert "is not in the inventory" in capsys.readouterr().err
    assert cli.main(_args(lab, "render", "cluster-yml")) == 1
    assert "cluster.engine is rke2, which has no cluster.yml" in capsys.readouterr().err


def test_preflight_skips_rke_and_checks_the_cni_for_rke2(in_process, fakes, capsys) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(engine="rke2"))
    code, lines = _preflight(lab, capsys)
    assert code == 0, "\n".join(lines)
    assert _line(lines, "skip rke: ") == "skip rke: not used: cluster.engine is rke2"
    assert _line(lines, "ok   network plugin: ") == \
        "ok   network plugin: rke2 supports canal with v1.32.13+rke2r2"
    assert fakes.calls("rke", queries=True) == [], "rke is not asked anything"


def test_status_names_the_engine_for_either(in_process, capsys) -> None:  # noqa: ANN001
    for engine, first_line in (
            ("rke", "engine: rke (waits for the ready callbacks of every controlplane and etcd "
                    "node)"),
            ("rke2", "engine: rke2 (waits for the ready callback of the first server gpu01 (it "
                     "starts the cluster; the others join it on port 9345))")):
        lab = in_process(lab_inventory(engine=engine))
        assert cli.main(_args(lab, "cluster", "status")) == 0
        out = capsys.readouterr().out.splitlines()
        assert out[0] == first_line
        assert any(ln.startswith("rke2 token: ") for ln in out) == (engine == "rke2")


def test_a_job_records_the_engine_it_ran(in_process) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory([NODES[1]]))
    lab.ready(NODES[1])
    (job,) = lab.run_jobs()
    assert (job.state, job.engine) == ("succeeded", "rke"), job.log
    db = lab.service.store.read()
    assert db.execute("SELECT engine FROM cluster_job_engines WHERE job_id = ?",
                      (job.id,)).fetchone()[0] == "rke"
