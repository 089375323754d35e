"""The RKE2 install script of a member's first boot, run here with real curl and sha256sum
against a real `seedbed serve` whose files folder holds a fake artifact mirror: the steps
fetch, verify, install and start in order; a flipped byte stops it at the check, with the
reason left for the ready report. (The QEMU boot test runs it under cloud-init.)"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from rke2_artifacts import pin_install_script, write_mirror
from seedbed import health
from seedbed.cluster.rke2 import rke2_first_boot
from seedbed.firstboot import rke2
from support import ServeProcess, free_port, healthy_facts, inventory_data, inventory_of, write_inventory

REPO = Path(__file__).resolve().parents[2]
SCRIPT_TIMEOUT = 120

# The fake systemctl: strict, records its calls, and starts a unit as systemd would.
SYSTEMCTL = """#!/bin/sh
echo "$*" >>{record}/systemctl
case "$*" in
    daemon-reload) exit 0 ;;
    "enable --now rke2-server.service") exec {prefix}/bin/rke2 server ;;
    "enable --now rke2-agent.service") exec {prefix}/bin/rke2 agent ;;
esac
echo "fake systemctl: unexpected arguments: $*" >&2
exit 2
"""


def _ready_script() -> Any:  # noqa: ANN401 - the node's script, loaded as a module
    spec = importlib.util.spec_from_file_location("seedbed_ready", REPO / "cloud-init/files/seedbed-ready.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def node_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake mirror served by seedbed, and the node's paths under a short folder: the
    containerd socket's path must fit AF_UNIX's 108 bytes (tmp_path under a pytest-xdist
    worker does not)."""
    root = Path(tempfile.mkdtemp(prefix="sb-node-"))
    paths = {"config": str(root / "etc/rancher/rke2/config.yaml"),
             "socket": str(root / "run/k3s/containerd/containerd.sock"),
             "toml": str(root / "var/lib/rancher/rke2/agent/etc/containerd/config.toml")}
    record, prefix = root / "record", root / "usr/local"
    files = tmp_path / "files"
    mirror = write_mirror(files, record=str(record), prefix=str(prefix), paths=paths)
    pin_install_script(monkeypatch, mirror["install_script_sha256"],
                       artifact_path=str(root / "artifacts"), config_path=paths["config"])
    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "systemctl").write_text(SYSTEMCTL.format(record=record, prefix=prefix))
    (bin_dir / "systemctl").chmod(0o755)
    port = free_port()
    data = inventory_data(cluster={"engine": "rke2"})
    data["site"]["base_url"] = f"http://127.0.0.1:{port}"
    inventory = write_inventory(tmp_path / "lab.yaml", data)
    server = ServeProcess(inventory, tmp_path / "state", port=port,
                          extra_args=["--files", str(files)]).start()
    try:
        yield {"inv": inventory_of(data), "paths": paths, "record": record, "root": root,
               "bin": bin_dir, "mirror": mirror["folder"]}
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


def _first_boot(node: dict[str, Any], hostname: str) -> subprocess.CompletedProcess[str]:
    """cloud-init's part for this member: its files written, then the install script run."""
    inv = node["inv"]
    plan = rke2_first_boot(inv, inv.node_by_hostname(hostname), "fake-cluster-token")
    for f in plan["files"]:
        target = Path(f["path"])
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f["content"])
        target.chmod(int(f["mode"], 8))
    script = node["root"] / "rke2-install.sh"
    script.write_text(rke2.install_script(plan, failed_file=str(node["root"] / "failed")))
    env = {**os.environ, "PATH": f"{node['bin']}:{os.environ['PATH']}"}
    return subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env,
                          timeout=SCRIPT_TIMEOUT, stdin=subprocess.DEVNULL)


def _reported(node: dict[str, Any]) -> dict[str, Any]:
    """The ready script's rke2 facts from this node's paths."""
    return _ready_script().rke2({"failed_file": str(node["root"] / "failed"),
                                 "containerd_socket": node["paths"]["socket"],
                                 "containerd_config": node["paths"]["toml"]})


def _problems(node: dict[str, Any], hostname: str, reported: dict[str, Any]) -> list[str]:
    inv = node["inv"]
    data = next(n for n in inventory_data()["nodes"] if n["hostname"] == hostname)
    facts = healthy_facts(data, rke2=reported)
    return health.problems(inv, inv.node_by_hostname(hostname), health.Facts(**facts))


def test_fetch_verify_install_start_from_seedbeds_mirror(node_root: dict[str, Any]) -> None:
    for tool in ("curl", "sha256sum", "tar"):
        assert shutil.which(tool), f"{tool} is needed (apt-get install curl coreutils tar)"
    done = _first_boot(node_root, "gpu02")  # an agent: no GPUs
    assert done.returncode == 0, f"install script failed: {done.stderr}"
    record = node_root["record"]
    assert (record / "install-env").read_text().splitlines() == [
        f"INSTALL_RKE2_ARTIFACT_PATH={node_root['root'] / 'artifacts'}", "INSTALL_RKE2_TYPE=agent"]
    assert (record / "install-argc").read_text().strip() == "0"
    assert (record / "systemctl").read_text().splitlines()[-1] == "enable --now rke2-agent.service"
    started = json.loads((record / "started").read_text())
    assert started["kind"] == "agent" and started["mode"] == "0o600"
    assert "token: fake-cluster-token" in started["config"].splitlines()
    assert stat.S_ISSOCK(os.stat(node_root["paths"]["socket"]).st_mode)
    reported = _reported(node_root)
    assert reported == {"install_failed": None, "containerd_running": True,
                        "containerd_runtimes": ["runc"]}
    assert _problems(node_root, "gpu02", reported) == []
    # gpu01 has GPUs: rke2 found no NVIDIA runtime here, and the check says so.
    assert _problems(node_root, "gpu01", reported) == [
        "containerd has no 'nvidia' runtime (runc), GPU nodes need it"]


@pytest.mark.parametrize(("name", "stage"), [
    ("rke2.linux-amd64.tar.gz", "verify sha256sum-amd64.txt"),
    ("install.sh", "verify install.sh.sha256"),
])
def test_a_flipped_byte_stops_the_install_with_the_reason(node_root: dict[str, Any], name: str,
                                                          stage: str) -> None:
    artifact = node_root["mirror"] / name
    blob = bytearray(artifact.read_bytes())
    blob[len(blob) // 2] ^= 0x01
    artifact.write_bytes(bytes(blob))
    done = _first_boot(node_root, "gpu01")
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"seedbed: rke2 {stage} failed" in done.stderr
    assert not (node_root["record"] / "install-env").exists(), "install.sh ran on a bad download"
    reported = _reported(node_root)
    assert reported["install_failed"].startswith(f"{stage}: {name}: FAILED"), reported
    assert not reported["containerd_running"]
    (problem,) = _problems(node_root, "gpu01", reported)
    assert problem.startswith(f"RKE2 install failed at {stage}: {name}: FAILED"), problem
