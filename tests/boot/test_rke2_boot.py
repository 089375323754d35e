"""A QEMU guest boots the test image as an RKE2 member: its first boot writes config.yaml,
fetches a FAKE rke2 install.sh, tarball and images from seedbed's files folder, checks them
against the pins and sha256sum-amd64.txt, installs and starts rke2, and reports ready.

The fakes (tests/rke2_artifacts.py) are strict: install.sh refuses a wrong environment or
artifacts that do not match their checksums; the tarball's rke2 refuses to start without a
0600 config.yaml holding a token, and leaves containerd's socket as rke2 does. The health
gate judges containerd (not Docker: the test image has none), so the node ends `ready`.
A flipped byte is tested without QEMU (tests/cluster/test_rke2_first_boot.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rke2_artifacts import write_mirror
from seedbed.cluster import rke2config, rke2token
from seedbed.cluster.state import ClusterPaths
from seedbed.firstboot import rke2
from seedbed.inventory import load_inventory

from .image import TestImage
from .lab import PROFILE, Lab, lab_inventory
from .qemu import SshKey, make_ed25519_key
from .test_service_boot import Booted, booted_with_ssh, sudo

HOST, MAC = "rke2-test", "52:54:00:5e:ed:21"
NODES = [{"hostname": HOST, "macs": [MAC], "ip": "10.0.2.31",
          "roles": ["controlplane", "etcd", "worker"], "profile": PROFILE}]
RECORD = "/var/lib/fake-rke2"  # what the fakes record on the guest
NODE_PATHS = {"config": "/etc/rancher/rke2/config.yaml", "socket": rke2.CONTAINERD_SOCKET,
              "toml": rke2.CONTAINERD_CONFIG}

# `seedbed serve` pins rancher's real install.sh; this one trusts the fake's digest instead.
SITECUSTOMIZE = """from seedbed.cluster import data
_real = data.rke2_versions
data.rke2_versions = lambda: {{**_real(), "install_script_sha256": {digest!r}}}
"""


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> SshKey:
    return make_ed25519_key(tmp_path_factory.mktemp("ssh"))


@pytest.fixture(scope="module")
def lab(test_image: TestImage, admin_key: SshKey,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    root = tmp_path_factory.mktemp("rke2-lab")

    def inventory(url: str) -> dict:
        return {**lab_inventory(url, admin_key.public, NODES), "cluster": {"engine": "rke2"}}

    service = Lab(root, test_image, admin_key.public, NODES, inventory=inventory)
    mirror = write_mirror(service.files, record=RECORD, prefix="/usr/local", paths=NODE_PATHS)
    pins = root / "pins"
    pins.mkdir()
    (pins / "sitecustomize.py").write_text(SITECUSTOMIZE.format(digest=mirror["install_script_sha256"]))
    assert service.server.env is not None
    service.server.env["PYTHONPATH"] = str(pins)
    service.start()
    yield service
    service.stop()
    print(f"\n[rke2-boot] seedbed serve log: {service.server.log_path}")


@pytest.fixture(scope="module")
def booted(lab: Lab, test_image: TestImage, admin_key: SshKey,
           tmp_path_factory: pytest.TempPathFactory,
           boot_timings: dict[str, dict[str, float]]) -> Iterator[Booted]:
    with booted_with_ssh(lab, test_image, admin_key, tmp_path_factory.mktemp("rke2-guest"),
                         HOST, MAC) as found:
        boot_timings["rke2_boot"] = found.stages
        yield found


def test_the_member_installs_rke2_from_the_mirror_and_reports_ready(lab: Lab, booted: Booted,
                                                                   admin_key: SshKey) -> None:
    node = lab.node(HOST)
    assert (node["state"], node["health"]) == ("ready", []), node  # no Docker needed
    reported = node["facts"]["rke2"]
    assert reported == {"install_failed": None, "containerd_running": True,
                        "containerd_runtimes": ["runc"]}, reported
    assert node["facts"]["docker"]["version"] is None
    # Every artifact came from seedbed's files folder.
    for name in ("install.sh", "sha256sum-amd64.txt", "rke2.linux-amd64.tar.gz",
                 "rke2-images.linux-amd64.tar.zst"):
        assert lab.requested("GET", rf"/files/rke2/\S+/{re.escape(name)}", 200), name
    g = booted.guest
    # config.yaml: root's, 0600, exactly what seedbed builds for this node with the token
    # seedbed keeps (the first server gets the bare secret).
    assert sudo(g, admin_key, f"stat -c '%a %U:%G' {NODE_PATHS['config']}").strip() == "600 root:root"
    inv = load_inventory(lab.inventory).inventory
    secret = rke2token.read_token(ClusterPaths(lab.state / "cluster"))
    written = yaml.safe_load(sudo(g, admin_key, f"cat {NODE_PATHS['config']}"))
    assert written == rke2config.node_config(inv, inv.node_by_hostname(HOST), secret)
    # The strict fakes ran once each, with what the plan says.
    assert sudo(g, admin_key, f"cat {RECORD}/install-env").splitlines() == [
        "INSTALL_RKE2_ARTIFACT_PATH=/var/lib/seedbed/rke2-artifacts", "INSTALL_RKE2_TYPE=server"]
    assert sudo(g, admin_key, f"cat {RECORD}/install-argc").strip() == "0"
    started = yaml.safe_load(sudo(g, admin_key, f"cat {RECORD}/started"))
    assert started["kind"] == "server" and started["mode"] == "0o600"
    assert sudo(g, admin_key, "systemctl is-enabled rke2-server.service").strip() == "enabled"
    assert sudo(g, admin_key, f"test -e {rke2.FAILED_FILE} && echo failed || echo none").strip() == "none"


def test_the_token_is_not_in_the_services_log(lab: Lab, booted: Booted) -> None:
    secret = rke2token.read_token(ClusterPaths(lab.state / "cluster"))
    assert secret not in lab.access_log()
    assert secret not in "".join(p.read_text(errors="replace") for p in Path(lab.state).rglob("*.log"))
