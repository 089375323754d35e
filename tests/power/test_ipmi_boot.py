"""The hands-off reinstall: `seedbed reinstall NODE --power` drives a real BMC simulator whose
chassis is a real QEMU guest, and the guest netboots from a live `seedbed serve` to its ready
callback with no hand on it.

ipmi_sim (OpenIPMI) listens for IPMI 2.0 lanplus on loopback; its chassis control program
(chassis_hook.py) is the machine's hardware: power on starts the guest, from the network only
when a one-time boot device `pxe` was set (the guest's NIC has no boot ROM otherwise, so it
boots its disk), power off kills it. The second power cycle must boot the disk: the one-time
flag was used up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from boot.image import TestImage
from boot.lab import PROFILE, Lab
from boot.qemu import Guest, make_ed25519_key
from boot.test_service_boot import boot_to_ready
from support import wait_for

from .bmc import IpmiSim
from .conftest import IPMI_PASSWORD

pytestmark = pytest.mark.boot

HOST, MAC = "ipmi-test", "52:54:00:5e:ed:31"
DISK_BOOT_TIMEOUT = 120  # power cycle -> SeaBIOS trying the disk


class ChassisGuest(Guest):
    """A guest the BMC's chassis program starts and stops, not this process."""

    def __init__(self, workdir: Path, pid_file: Path, **options: object):
        super().__init__(workdir, **options)  # type: ignore[arg-type]
        self.pid_file = pid_file

    @property
    def alive(self) -> bool:
        try:
            pid = int(self.pid_file.read_text())
            stat = Path(f"/proc/{pid}/stat").read_text()
        except (OSError, ValueError):
            return False
        return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def bmc(tmp_path: Path) -> Iterator[IpmiSim]:
    sim = IpmiSim(tmp_path / "bmc", "admin", IPMI_PASSWORD).start()
    yield sim
    sim.stop()


def seedbed_cli(lab: Lab, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "seedbed.cli", *args, "--inventory", str(lab.inventory),
         "--state", str(lab.state)], input=stdin, capture_output=True, text=True, timeout=300)
    assert IPMI_PASSWORD not in done.stdout + done.stderr
    return done


def test_reinstall_power_netboots_the_guest_to_ready_hands_off(
        test_image: TestImage, bmc: IpmiSim, tmp_path: Path,
        boot_timings: dict[str, dict[str, float]]) -> None:
    key = make_ed25519_key(tmp_path / "ssh")
    node = {"hostname": HOST, "macs": [MAC], "ip": "10.0.2.15",
            "roles": ["controlplane", "etcd", "worker"],
            "profile": PROFILE, "power": {"driver": "ipmi", "address": bmc.address,
                                         "username": "admin", "cipher_suite": 3}}
    lab = Lab(tmp_path / "lab", test_image, key.public, [node])
    lab.start()
    try:
        guest = chassis_guest(bmc, lab, test_image, tmp_path / "guest")
        done = seedbed_cli(lab, "power", "set-credentials", HOST, stdin=IPMI_PASSWORD + "\n")
        assert done.returncode == 0, done.stderr
        started = time.monotonic()
        guest.started_at = started
        done = seedbed_cli(lab, "reinstall", HOST, "--power")
        assert done.returncode == 0, f"reinstall --power failed: {done.stdout} {done.stderr}"
        assert "power reinstall succeeded" in done.stdout, done.stdout
        hook = bmc.hook_log()
        assert "set boot pxe" in hook and "guest started, boot pxe" in hook, hook
        booted = boot_to_ready(lab, guest, HOST, MAC)
        assert booted.ready["kind"] in ("ready", "unhealthy")
        stages = {**booted.stages, "total": round(time.monotonic() - started, 1)}

        done = seedbed_cli(lab, "power", "cycle", HOST)
        assert done.returncode == 0, done.stdout + done.stderr
        # ipmi_sim powers the chassis back on a second after the cycle's power-off.
        wait_for("the chassis powering back on after the cycle",
                 lambda: "guest started, boot disk" in bmc.hook_log(), 30)
        guest.wait_for_console(r"Booting from Hard Disk", DISK_BOOT_TIMEOUT,
                               "the second boot did not try the disk")
        stages["second_cycle_disk"] = round(time.monotonic() - started, 1)
        boot_timings["power_ipmi_reinstall"] = stages
        events = lab.events(HOST)
        power = [e["message"] for e in events if e["kind"] == "power"]
        assert any("power reinstall by cli succeeded" in m for m in power), power
        assert any("power cycle by cli succeeded" in m for m in power), power
        installs = [e for e in events if e["kind"] == "boot" and "started" in e["message"]]
        assert len(installs) == 1, installs  # the disk boot began no second install
        everything = json.dumps(events) + lab.access_log() + bmc.log()
        assert IPMI_PASSWORD not in everything
    finally:
        lab.stop()


def chassis_guest(bmc: IpmiSim, lab: Lab, image: TestImage, workdir: Path) -> ChassisGuest:
    """The machine behind the BMC: one disk, and the two ways its firmware can start."""
    pid_file = bmc.hook_dir / "guest.pid"
    network = ChassisGuest(workdir, pid_file, tftp_dir=lab.tftp, mac=MAC, base_disk=image.disk)
    network.disk = network._prepare_disk()  # the one disk both boots use
    disk_only = Guest(workdir, tftp_dir=lab.tftp, mac=MAC, romfile="",
                      ssh_port=network.ssh_port)
    disk_only.disk = network.disk
    (bmc.hook_dir / "guest.json").write_text(json.dumps(
        {"pxe": network.command(), "disk": disk_only.command()}))
    return network
