"""`seedbed cluster preflight` with the strict fake rke and helm: every verdict, every failure's line.

The checks that reach other hosts (DNS, NFS, SSH) are skipped here (no packet leaves the
machine); tests/cluster/test_preflight_site.py runs them against hosts in a namespace.
"""

from __future__ import annotations

import pytest

from seedbed import cli
from support import healthy_facts

from .conftest import NODES, lab_inventory, wait_for
from .test_cli import _args

LATEST = "https://releases.rancher.com/server-charts/latest"
STABLE = "https://releases.rancher.com/server-charts/stable"


def _preflight(lab, capsys) -> tuple[int, list[str]]:  # noqa: ANN001
    code = cli.main(_args(lab, "cluster", "preflight"))
    return code, capsys.readouterr().out.splitlines()


def _line(lines: list[str], start: str) -> str:
    found = [ln for ln in lines if ln.startswith(start)]
    assert len(found) == 1, f"one line starting {start!r} expected in:\n" + "\n".join(lines)
    return found[0]


def test_the_lab_passes_and_every_check_shows_its_verdict(in_process, fakes, capsys) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory())
    code, lines = _preflight(lab, capsys)
    assert code == 0, "\n".join(lines)
    assert _line(lines, "ok   rke: ").endswith("is v1.8.5 (pin v1.8.5)")
    assert _line(lines, "ok   kubernetes: ").startswith(
        "ok   kubernetes: v1.30.14-rancher1-1 is among the 6 versions")
    assert _line(lines, "ok   network plugin: ") == \
        "ok   network plugin: rke supports canal with v1.30.14-rancher1-1"
    for release in ("metallb", "cert-manager", "rancher", "nvidia-device-plugin",
                    "nfs-subdir-external-provisioner"):
        _line(lines, f"ok   chart {release}: ")
    assert _line(lines, "ok   chart rancher: ") == f"ok   chart rancher: rancher 2.11.3 is in {LATEST}"
    for skipped in ("dns", "nfs", "ssh"):
        assert _line(lines, f"skip {skipped}: ") == \
            f"skip {skipped}: skipped (SEEDBED_CLUSTER_PREFLIGHT_SKIP)"
    _line(lines, "ok   backups: ")
    assert lines[-1] == "preflight: 12 checks, 9 ok, 0 failed, 3 skipped"
    # helm was asked about each repository in its own folders, offline, through the fake.
    searches = [c["argv"] for c in fakes.calls("helm", queries=True) if c["argv"][0] == "search"]
    assert len(searches) == 5 and all(a[-3:] == ["--versions", "--output", "json"] for a in searches)
    assert [c for c in fakes.calls(queries=True) if c["outcome"] != "ok"] == []


@pytest.mark.parametrize(("version", "verdict"), [
    ("v1.8.4", "FAIL rke: {rke} is v1.8.4; seedbed is pinned to v1.8.5 (same minor, that patch or "
               "newer) -- fix: install rke v1.8.5 or a newer v1.8.x from "
               "https://github.com/rancher/rke/releases"),
    ("v1.7.9", "FAIL rke: {rke} is v1.7.9; seedbed is pinned"),
    ("v1.9.0", "FAIL rke: {rke} is v1.9.0; seedbed is pinned"),
    ("v1.8.14", "ok   rke: {rke} is v1.8.14 (pin v1.8.5)"),
])
def test_the_rke_version_must_be_the_pinned_minor(in_process, fakes, capsys, version: str,
                                                  verdict: str) -> None:  # noqa: ANN001
    fakes.control(rke={"version": version})
    lab = in_process(lab_inventory())
    code, lines = _preflight(lab, capsys)
    assert _line(lines, verdict[:4] + " rke: ").startswith(verdict.format(rke=fakes.bin / "rke"))
    assert code == (0 if verdict.startswith("ok") else 1)


def test_a_kubernetes_version_rke_does_not_list_is_caught(in_process, fakes, capsys) -> None:  # noqa: ANN001
    fakes.control(rke={"k8s_versions": ["v1.29.15-rancher1-1", "v1.30.13-rancher1-1"]})
    lab = in_process(lab_inventory())
    code, lines = _preflight(lab, capsys)
    assert code == 1
    assert _line(lines, "FAIL kubernetes: ") == (
        "FAIL kubernetes: this rke does not know v1.30.14-rancher1-1 -- fix: set "
        "cluster.kubernetes_version to one it lists (v1.30.13-rancher1-1) or install an "
        "rke v1.8.x that lists v1.30.14-rancher1-1")


def test_a_missing_rke_says_how_to_install_it(in_process, fakes, capsys) -> None:  # noqa: ANN001
    (fakes.bin / "rke").unlink()
    lab = in_process(lab_inventory())
    code, lines = _preflight(lab, capsys)
    assert code == 1
    assert _line(lines, "FAIL rke: ").startswith(
        "FAIL rke: rke not found (not on PATH) -- fix: download the rke v1.8.x binary")


def test_a_rancher_version_missing_from_its_channel_names_the_one_that_has_it(
        in_process, fakes, capsys) -> None:  # noqa: ANN001
    fakes.control(helm={"drop": [[LATEST, "rancher", "2.11.3"]]})
    lab = in_process(lab_inventory())
    code, lines = _preflight(lab, capsys)
    assert code == 1
    assert _line(lines, "FAIL chart rancher: ") == (
        f"FAIL chart rancher: rancher 2.11.3 is not in {LATEST}; {STABLE} has it -- fix: set its "
        f"repo to {STABLE} in rke/versions.yaml")
    _line(lines, "ok   chart cert-manager: ")  # one missing chart does not hide the others


def test_a_rancher_version_in_no_channel_suggests_the_nearest(in_process, fakes, capsys) -> None:  # noqa: ANN001
    fakes.control(helm={"drop": [[LATEST, "rancher", "2.11.3"], [STABLE, "rancher", "2.11.3"]]})
    lab = in_process(lab_inventory())
    code, lines = _preflight(lab, capsys)
    assert code == 1
    assert _line(lines, "FAIL chart rancher: ").endswith(
        "-- fix: pin a version the repository has (2.11.2, 2.11.1)")


def test_an_unreachable_chart_repository_is_named(in_process, fakes, capsys) -> None:  # noqa: ANN001
    fakes.control(helm={"unreachable": ["https://charts.jetstack.io"]})
    lab = in_process(lab_inventory())
    code, lines = _preflight(lab, capsys)
    assert code == 1
    assert _line(lines, "FAIL chart cert-manager: ").startswith(
        "FAIL chart cert-manager: https://charts.jetstack.io: `helm repo add` failed: Error: looks "
        "like 'https://charts.jetstack.io' is not a valid chart repository")


def test_unwritable_state_folders_are_caught(in_process, fakes, capsys, tmp_path) -> None:  # noqa: ANN001
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    lab = in_process(lab_inventory(kubeconfig=str(blocker / "config")))
    code, lines = _preflight(lab, capsys)
    assert code == 1
    assert _line(lines, "FAIL backups: ") == (
        f"FAIL backups: cannot write {blocker} (Not a directory) -- fix: make these folders "
        "writable by the user seedbed runs as")


def test_ssh_without_the_service_key_says_how_to_make_it(in_process, fakes, capsys,
                                                        monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SEEDBED_CLUSTER_PREFLIGHT_SKIP", "dns,nfs")
    lab = in_process(lab_inventory())
    lab.service.cluster.key_path.unlink()  # no node is ready either: nothing is dialled
    code, lines = _preflight(lab, capsys)
    assert code == 1
    assert _line(lines, "FAIL ssh: ") == (
        f"FAIL ssh: no service key at {lab.service.cluster.key_path} -- fix: start `seedbed serve` "
        "once: it makes the key the seeds carry")


def test_ssh_tries_only_ready_nodes(in_process, fakes, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SEEDBED_CLUSTER_PREFLIGHT_SKIP", "dns,nfs")
    lab = in_process(lab_inventory(), auto=False)
    code, lines = _preflight(lab, capsys)
    assert code == 0
    assert _line(lines, "skip ssh: ") == "skip ssh: not tried (not ready): " + ", ".join(
        f"{n['hostname']} (new)" for n in NODES)


def test_an_unknown_check_name_to_skip_is_refused(in_process, fakes, capsys, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SEEDBED_CLUSTER_PREFLIGHT_SKIP", "dns,nsf")
    lab = in_process(lab_inventory())
    capsys.readouterr()
    assert cli.main(_args(lab, "cluster", "preflight")) != 0
    err = capsys.readouterr().err
    assert err.startswith("SEEDBED_CLUSTER_PREFLIGHT_SKIP: unknown preflight checks ['nsf']")
    assert err.count("\n") == 1 and "Traceback" not in err  # one line, as every CLI error


def test_a_job_whose_preflight_fails_records_it_and_never_runs_rke_up(serve, fakes) -> None:  # noqa: ANN001
    fakes.control(rke={"version": "v1.7.9"})
    one = [dict(NODES[1])]
    svc = serve(lab_inventory(one, load_balancer=None, nfs=None, rancher={"enabled": False}))
    svc.make_ready(one[0])
    job = wait_for("the job to fail", lambda: [j for j in svc.jobs() if j["state"] == "failed"])[0]
    rke = str(fakes.bin / "rke")
    verdict = (f"FAIL rke: {rke} is v1.7.9; seedbed is pinned to v1.8.5 (same minor, that patch or "
               "newer) -- fix: install rke v1.8.5 or a newer v1.8.x")
    assert job["stage"] == "preflight" and job["outcome"].startswith(f"preflight: {verdict}")
    assert job["rke_outcome"] is None and job["digest"] is None
    detail = svc.job(job["id"])
    log = detail["log"]
    assert f"# preflight: {verdict}" in log
    assert detail == {**job, "log": log}  # the listing's summary and the log; nothing else
    missing = svc.admin("GET", f"/api/v1/cluster/jobs/{job['id'] + 100}")
    assert (missing.status_code, missing.json()) == (404, {"error": f"no cluster job #{job['id'] + 100}"})
    assert "network plugin" not in log  # a job stops at the first failing check
    assert fakes.calls("rke") == []  # no rke up
    assert [c["argv"] for c in fakes.calls("rke", queries=True)] == [
        ["--version"], ["config", "--list-version", "--all"]]
    assert len(svc.jobs()) == 1, "a preflight failure is not retried: it needs an admin's fix"

    fakes.control()  # the admin installs the pinned rke, then asks again
    done = svc.wait_job(svc.admin("POST", "/api/v1/cluster/up").json()["job"])
    assert [c["outcome"] for c in fakes.calls("rke")] == ["ok"]
    assert "# preflight: ok   rke: " in svc.job(done["id"])["log"]


@pytest.mark.parametrize("docker", ["27.3.1", "28.1.1"])
def test_docker_releases_rke_accepts_for_1_30_pass_the_health_gate(in_process, docker: str) -> None:  # noqa: ANN001
    lab = in_process(lab_inventory(), auto=False)
    node = NODES[1]
    lab.ready(node, healthy_facts(node, docker={"version": docker, "default_runtime": "runc",
                                                "runtimes": ["runc"]}))
    assert lab.service.store.node(node["hostname"]).state == "ready"
