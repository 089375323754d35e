"""The golden image end to end, for real: a `packer build` under TCG from the Debian base
disk, then PXE -> deploy ramdisk -> image streamed onto a blank virtio disk -> reboot
from disk -> first-boot cloud-init -> ready, all watched from outside (seedbed's admin
API and SSH). A one-byte corruption ends in `failed` naming the checksum.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import shlex
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from boot.lab import Lab
from boot.qemu import HOST_IP, BootStageError, Guest, make_ed25519_key
from seedbed.deploy.golden import GoldenImage
from seedbed.firstboot import ssh
from support import Started, inventory_data, place_file

pytestmark = pytest.mark.boot

MAC = "52:54:00:6d:00:01"
HOSTNAME = "gold01"
DISK_SERIAL = "seedbed-disk-1"
BLANK_DISK = "3G"
ADMIN_PASSWORD = "pw-for-the-test"
# OVMF's own IPv4/IPv6 stacks (PXE and HTTP boot entries after iPXE's) add ~70 s of DHCP
# timeouts to every local boot under TCG; iPXE's ROM has its own stack and still PXE-boots.
OVMF_NO_NETSTACK = ["-fw_cfg", "name=opt/org.tianocore/IPv4Support,string=no",
                    "-fw_cfg", "name=opt/org.tianocore/IPv6Support,string=no"]


def sh(*cmd: str, timeout: float = 300) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{' '.join(cmd)}: {proc.stderr}"
    return proc.stdout


# -- the build ------------------------------------------------------------------


def debugfs(image: Path, offset: int, command: str) -> str:
    """Read the image's root filesystem in place (no mount): debugfs 'FILE?offset=N'."""
    proc = subprocess.run(["debugfs", "-R", command, f"{image}?offset={offset}"],
                          capture_output=True, text=True, timeout=60)
    # debugfs exits 0 even when it cannot open the filesystem; it says so on stderr.
    assert "not open" not in proc.stderr, f"debugfs {command!r}: {proc.stderr}"
    return proc.stdout


def test_packer_build_publishes_a_clean_template_image(golden_image: GoldenImage,
                                                        tmp_path: Path) -> None:
    assert golden_image.qcow2.is_file()
    # The sha256 file matches the compressed image it sits beside.
    listed, name = golden_image.sha256_file.read_text().split()
    assert name == golden_image.raw_zst.name
    digest = hashlib.sha256()
    with golden_image.raw_zst.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    assert digest.hexdigest() == listed

    raw = tmp_path / "image.raw"
    sh("zstd", "-q", "-d", str(golden_image.raw_zst), "-o", str(raw))
    table = json.loads(sh("sfdisk", "-J", str(raw)))["partitiontable"]
    root = max(table["partitions"], key=lambda p: p["start"])
    offset = root["start"] * table.get("sectorsize", 512)

    def read(path: str) -> str:
        return debugfs(raw, offset, f"cat {path}")

    def listing(path: str) -> str:
        return debugfs(raw, offset, f"ls -l {path}")

    assert "machine-id" in listing("/etc")
    assert read("/etc/machine-id") == "", "machine-id must be empty for clones"
    assert "ssh_host_" not in listing("/etc/ssh"), "SSH host keys left in the image"
    assert "sshd_config" in listing("/etc/ssh")
    # The one sshd policy (seedbed.firstboot.ssh), baked in by the provisioning step 40-sshd.sh.
    assert read(ssh.DROP_IN) == ssh.sshd_config()
    cloud = listing("/var/lib/cloud")
    assert "instance" not in cloud and "seed" not in cloud, f"cloud-init not cleaned:\n{cloud}"
    passwd = read("/etc/passwd")
    assert "root:" in passwd and "seedbed-build" not in passwd, "the build user is still there"
    assert "seedbed-build" not in listing("/home") and "90-seedbed-build" not in listing(
        "/etc/sudoers.d")
    assert "60-seedbed-build" not in listing("/etc/network/interfaces.d")
    # The provisioning steps ran (30-base.sh), and the vendor steps said why they did not.
    status = read("/var/lib/dpkg/status")
    for package in ("ufw", "unattended-upgrades", "nfs-common"):
        assert re.search(rf"Package: {package}\nStatus: install ok installed", status), package
    log = (golden_image.qcow2.parent.parent / "packer.log").read_text()
    assert "SEEDBED_VENDOR_REPOS=no: NOT installing Docker CE" in log
    assert "seedbed cleanup: machine-id emptied, host keys removed, cloud-init cleaned" in log


# -- the deploy -------------------------------------------------------------------


class GoldenLab(Lab):
    """seedbed serving one image node, the files folder, and a guest with a blank disk."""

    def __init__(self, root: Path, image: Path, sha256_file: Path, ramdisk: Path) -> None:
        self.key = make_ed25519_key(root / "ssh")
        super().__init__(root, None, self.key.public, [], inventory=self._inventory(image))
        place_file(image, self.files / "golden" / image.name)
        shutil.copyfile(sha256_file, self.files / "golden" / sha256_file.name)
        for name in ("vmlinuz", "initrd.img"):
            place_file(ramdisk / name, self.files / "deploy" / name)

    def _inventory(self, image: Path) -> Callable[[str], dict[str, Any]]:
        return lambda base_url: inventory_data(
            site={"domain": "lab.test", "subnet": "10.0.2.0/24", "gateway": "10.0.2.2",
                  "dns": ["10.0.2.3"], "base_url": base_url},
            admin={"username": "labadmin", "password": ADMIN_PASSWORD,
                   "ssh_keys": [self.key.public]},
            nodes=[{"hostname": HOSTNAME, "macs": [MAC], "ip": "10.0.2.15",
                    "roles": ["controlplane", "etcd", "worker"], "install": "image",
                    "disk": {"serial": DISK_SERIAL}}],
            image={"file": f"golden/{image.name}", "cmdline": "console=ttyS0"})


def event(lab: Lab, needle: str) -> dict[str, Any] | None:
    return lab.find_event(HOSTNAME, lambda e: needle in e["message"])


@pytest.fixture
def lab_factory(tmp_path: Path, deploy_ramdisk: Path) -> Callable[..., GoldenLab]:
    labs = Started()

    def make(image: Path, sha256_file: Path) -> GoldenLab:
        return labs.add(GoldenLab(tmp_path / f"lab{len(labs)}", image, sha256_file, deploy_ramdisk))

    yield make
    labs.stop_all()


def _wait_event(g: Guest, lab: Lab, needle: str, timeout: float, stage: str) -> dict[str, Any]:
    return g.wait_until(lambda: event(lab, needle), timeout, stage, interval=2)


def test_pxe_deploy_reboot_first_boot_ready(golden_image: GoldenImage, lab_factory: Callable,
                                            guest: Callable[..., Guest], tmp_path: Path,
                                            boot_timings: dict) -> None:
    lab = lab_factory(golden_image.raw_zst, golden_image.sha256_file)
    wall = time.time()
    g = guest(tftp_dir=lab.tftp, mac=MAC, firmware="uefi", blank_disk_size=BLANK_DISK,
              disk_serial=DISK_SERIAL, memory_mb=1024, cpus=2, extra_args=OVMF_NO_NETSTACK)
    t: dict[str, float] = boot_timings.setdefault("golden_deploy", {})

    def mark(stage: str, event: dict[str, Any]) -> None:
        t[stage] = round(event["at"] - wall, 1)

    mark("pxe_deploy_ramdisk", _wait_event(g, lab, "install #1 started (image)", 240,
                                           "PXE: deploy ramdisk served"))
    mark("plan_fetched", _wait_event(g, lab, "seed deploy.json fetched", 240,
                                     "deploy ramdisk: plan fetched"))
    assert _wait_event(g, lab, f"selected /dev/vda for {{\"serial\":\"{DISK_SERIAL}\"}}", 120,
                       "deploy ramdisk: disk selected")
    streamed = _wait_event(g, lab, "finish seedbed/deploy/stream: SUCCESS", 600,
                           "deploy ramdisk: image streamed and verified")
    mark("streamed", streamed)
    found = re.search(r"wrote (\d+) bytes to /dev/vda in ([\d.]+)s \(([\d.]+) MiB/s\)",
                      streamed["message"])
    assert found, streamed["message"]
    t["stream_bytes"], t["stream_seconds"], t["stream_mib_s"] = map(float, found.groups())
    assert any("progress seedbed/deploy/stream" in e["message"] for e in lab.events(HOSTNAME)) \
        or float(found.group(2)) < 10, "no progress events during a long stream"
    assert _wait_event(g, lab, "finish seedbed/deploy/grow: SUCCESS", 120, "deploy: root grown")
    mark("installed", _wait_event(g, lab, "installed after", 120, "deploy: installed callback"))
    mark("first_boot_seed", _wait_event(g, lab, "seed user-data fetched", 300,
                                        "first boot: cloud-init fetched the seed"))
    ready = _wait_event(g, lab, "unhealthy:", 400, "first boot: ready callback")
    mark("ready", ready)
    t["deploy_seconds"] = round(t["installed"] - t["pxe_deploy_ramdisk"], 1)

    node = lab.node(HOSTNAME)
    # Everything but Docker is healthy: the test build skips Docker's repository, and says so.
    assert node["health"] == ["Docker is not installed or not running"], node
    assert node["state"] == "unhealthy" and node["facts"]["hostname"] == HOSTNAME
    # From outside, over SSH: the admin's key works on the clone.
    ssh_error: BootStageError | None = None
    try:
        g.wait_for_ssh("labadmin", lab.key.path, timeout=120,
                       stage="first boot: ssh as the admin (ufw must allow port 22)")
        out = g.ssh("hostname", "labadmin", lab.key.path)
        assert out.stdout.strip() == HOSTNAME, out.stdout + out.stderr
        power_off(g, lab)
    except BootStageError as exc:
        ssh_error = exc
    g.stop()
    check_written_disk(g, lab, tmp_path)
    if ssh_error:
        raise ssh_error


def power_off(g: Guest, lab: Lab, timeout: float = 120) -> None:
    """Shut the clone down cleanly, so its filesystem can be read without a journal replay."""
    with contextlib.suppress(subprocess.TimeoutExpired):  # the connection drops as it halts
        g.ssh(f"echo {shlex.quote(ADMIN_PASSWORD)} | sudo -S -p '' systemctl poweroff",
              "labadmin", lab.key.path, timeout=30)
    deadline = time.monotonic() + timeout
    while g.alive and time.monotonic() < deadline:
        time.sleep(1)
    if g.alive:
        raise g.fail("first boot: clean power-off", f"still running after {timeout:.0f}s")


def check_written_disk(g: Guest, lab: Lab, tmp_path: Path) -> None:
    """The clone's disk after first boot: grown, its own identity, the seed pointer."""
    raw = tmp_path / "written.raw"
    sh("qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(g.disk), str(raw))
    table = json.loads(sh("sfdisk", "-J", str(raw)))["partitiontable"]
    root = max(table["partitions"], key=lambda p: p["start"])
    assert (root["start"] + root["size"]) * 512 > 3 * 2**30 - 2**20, "root partition not grown"
    offset = root["start"] * 512
    stats = debugfs(raw, offset, "stats")
    blocks = int(re.search(r"Block count:\s+(\d+)", stats).group(1))
    size = int(re.search(r"Block size:\s+(\d+)", stats).group(1))
    assert blocks * size > 2 * 2**30, f"filesystem not resized: {blocks} x {size}"
    assert re.fullmatch(r"[0-9a-f]{32}\n?", debugfs(raw, offset, "cat /etc/machine-id")), \
        "first boot made no machine-id"
    assert "ssh_host_ed25519_key" in debugfs(raw, offset, "ls /etc/ssh"), "no host keys made"
    pointer = yaml.safe_load(debugfs(raw, offset,
                                     "cat /etc/cloud/cloud.cfg.d/90-seedbed-nocloud.cfg"))
    assert pointer["datasource_list"] == ["NoCloud", "None"]
    seed = pointer["datasource"]["NoCloud"]["seedfrom"]
    assert re.fullmatch(rf"http://{HOST_IP}:{lab.port}/seed/[A-Za-z0-9_-]+/", seed), seed


def test_corrupted_image_fails_naming_the_checksum(golden_image: GoldenImage,
                                                   lab_factory: Callable, tmp_path: Path,
                                                   guest: Callable[..., Guest],
                                                   boot_timings: dict) -> None:
    corrupt = tmp_path / golden_image.raw_zst.name
    shutil.copyfile(golden_image.raw_zst, corrupt)
    with corrupt.open("r+b") as f:  # one flipped byte in the middle
        f.seek(corrupt.stat().st_size // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    expected = golden_image.sha256_file.read_text().split()[0]
    lab = lab_factory(corrupt, golden_image.sha256_file)
    wall = time.time()
    g = guest(tftp_dir=lab.tftp, mac=MAC, firmware="uefi", blank_disk_size=BLANK_DISK,
              disk_serial=DISK_SERIAL, memory_mb=1024, cpus=2, extra_args=OVMF_NO_NETSTACK)
    failed = _wait_event(g, lab, "install #1 failed", 600, "deploy: failed callback")
    boot_timings.setdefault("golden_corrupt", {})["failed"] = round(failed["at"] - wall, 1)
    node = lab.node(HOSTNAME)
    assert node["state"] == "failed", node
    log = failed["data"]["log"]
    assert f"image checksum mismatch: sha256 expected {expected}, got " in log
    assert "deploy failed at stream" in log
    assert event(lab, "installed after") is None
    # Nothing half-written can boot: the disk carries no partition table.
    g.wait_until(lambda: "halted" in g.console_text(), 60, "deploy: halted after the failure")
    g.stop()
    head = tmp_path / "head.raw"
    sh("qemu-img", "dd", "-f", "qcow2", "-O", "raw", "bs=1M", "count=1", f"if={g.disk}",
       f"of={head}")
    assert head.read_bytes() == bytes(2**20), "the first MiB (partition table) was not wiped"
