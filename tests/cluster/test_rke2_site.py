"""RKE2's kubeconfig collected by the real OpenSSH client from a real sshd, in a network namespace.

The first server 10.20.0.21 is a real sshd (test_preflight_site.Site) whose /etc carries the
rke2.yaml rke2 would write: root-owned, mode 0640, group labadmin (write-kubeconfig-mode and
-group of its config.yaml). `seedbed cluster up` runs inside the namespace with the real ssh,
and the strict fakes of rke2 (the nodes' start), kubectl and helm.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml

from seedbed.cluster.rke2 import rke2_first_boot

from . import fake_tool
from .conftest import NODES, SEEDBED, lab_inventory
from .test_preflight_site import ADMIN_UID, LAB, site  # noqa: F401 - the fixture

GPU01, CPU02, CPU03, _ = NODES


def node_side(fakes, lab, names: list[str]) -> None:  # noqa: ANN001
    """Each server's first boot ends in rke2's start: the fake joins it to the cluster."""
    inv = lab.service.inventory
    for name in names:
        node = next(n for n in inv.nodes if n.hostname == name)
        boot = rke2_first_boot(inv, node, lab.service.cluster.rke2_token(node))
        config = fakes.dir / f"{name}.yaml"
        config.write_text(boot["files"][0]["content"])
        done = subprocess.run([str(fakes.bin / "rke2"), boot["type"], "--config", str(config)],
                              env={**os.environ, **fakes.env()}, capture_output=True, text=True,
                              timeout=30, check=False)
        assert done.returncode == 0, done.stdout


def etc_with_kubeconfig(mode: int) -> Path:
    """What the first server's /etc adds: the labadmin group and rke2.yaml (root:labadmin)."""
    cluster = fake_tool_cluster()
    upper = Path(tempfile.mkdtemp(prefix="seedbed-etc-"))
    upper.chmod(0o755)
    folder = upper / "rancher" / "rke2"
    folder.mkdir(parents=True)
    for part in (upper / "rancher", folder):
        part.chmod(0o755)
    (upper / "group").write_text(Path("/etc/group").read_text() + f"labadmin:x:{ADMIN_UID}:\n")
    (upper / "group").chmod(0o644)
    kubeconfig = folder / "rke2.yaml"
    kubeconfig.write_text(fake_tool.rke2_kubeconfig(cluster))
    os.chown(kubeconfig, 0, ADMIN_UID)
    kubeconfig.chmod(mode)
    return upper


def fake_tool_cluster() -> dict:
    cluster = fake_tool.rke2_cluster()
    assert cluster is not None, "the first server has not started rke2"
    return cluster


@pytest.mark.parametrize("mode", [0o640, 0o600], ids=["group-readable", "root-only"])
def test_the_real_ssh_client_collects_the_kubeconfig(site, in_process, fakes, monkeypatch,  # noqa: ANN001, F811
                                                      mode: int) -> None:
    lab = in_process(lab_inventory(engine="rke2"), auto=False)
    monkeypatch.setenv("SEEDBED_CLUSTER_NODES_TIMEOUT", "5")
    fake_tool.install(fakes.bin, ("rke2",))  # ssh stays the real one
    node_side(fakes, lab, ["gpu01", "cpu02", "cpu03"])
    for node in (GPU01, CPU02, CPU03):
        lab.ready(node)
    settings = lab.service.settings
    upper = etc_with_kubeconfig(mode)
    site.cleanup.append(upper)
    site.sshd("first-server", [f"{LAB}.21"], settings.state_dir / "ssh" / "id_ed25519.pub",
              refuse=[], docker=False, etc_overlay=upper)

    done = site.lan.ns(site.lan.server, str(SEEDBED), "cluster", "up", "--inventory",
                       str(settings.inventory_path), "--state", str(settings.state_dir),
                       check=False, timeout=180)
    assert "Traceback" not in done.stderr, done.stderr
    kubeconfig = settings.state_dir / "cluster" / "kube_config_cluster.yml"
    assert "Accepted publickey for labadmin" in (site.folder / "sshd-first-server.log").read_text()
    if mode == 0o600:  # rke2's default mode: only root could read it
        assert done.returncode == 1
        assert "collect kubeconfig: ssh exited with status 1: cat: /etc/rancher/rke2/rke2.yaml: " \
               "Permission denied" in done.stdout, done.stdout
        assert not kubeconfig.exists()
        return
    assert done.returncode == 0, done.stdout
    assert "FAKEKEY" not in done.stdout
    saved = yaml.safe_load(kubeconfig.read_text())
    assert saved["clusters"][0]["cluster"]["server"] == "https://10.20.0.21:6443"
    assert [c["outcome"] for c in fakes.calls("kubectl")][:1] == ["ok"]
