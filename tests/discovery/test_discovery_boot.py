"""A discovery boot for real: a QEMU guest (TCG, UEFI) with an unknown MAC, two virtio disks
with serials and a second NIC PXE-boots seedbed's deploy ramdisk in report-only mode, posts
its hardware facts, and powers off. What seedbed stored must be exactly that guest."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from boot.lab import Lab
from boot.qemu import Guest
from image.test_golden_boot import OVMF_NO_NETSTACK
from seedbed.discovery import suggest_accept
from support import ADMIN_KEY, inventory_data, place_file

pytestmark = pytest.mark.boot

MAC = "52:54:00:d1:5c:01"  # unknown to the inventory
SECOND_NIC = "52:54:00:d1:5c:02"
DISKS = {"seedbed-disc-a": 2 * 2**30, "seedbed-disc-b": 3 * 2**30}  # serial -> size
DMI = {"vendor": "Seedbed Lab", "product": "Discovery Box", "serial": "SBD-0001"}
MEMORY_MB = 1024
CPUS = 2
FIRMWARE_SECURE_BOOT = False  # Debian's OVMF.fd: the SecureBoot variable reads 0 (not enforced)


class DiscoveryLab(Lab):
    """seedbed with discovery boots on, the deploy ramdisk in its files folder."""

    def __init__(self, root: Path, ramdisk: Path) -> None:
        super().__init__(root, None, ADMIN_KEY, [], inventory=lambda base_url: inventory_data(
            site={"domain": "lab.test", "subnet": "10.0.2.0/24", "gateway": "10.0.2.2",
                  "dns": ["10.0.2.3"], "base_url": base_url},
            nodes=[{"hostname": "known01", "macs": ["52:54:00:d1:5c:99"], "ip": "10.0.2.50",
                    "roles": ["controlplane", "etcd", "worker"]}],
            discovery={"boot": True, "cmdline": "console=ttyS0"}))
        for name in ("vmlinuz", "initrd.img"):
            place_file(ramdisk / name, self.files / "deploy" / name)
        self.cli = [sys.executable, "-m", "seedbed.cli"]
        self.where = ["--inventory", str(self.inventory), "--state", str(self.state)]

    def discovered(self) -> dict[str, Any] | None:  # type: ignore[override]  # this guest's row
        return next((row for row in super().discovered() if row["mac"] == MAC), None)


@pytest.fixture
def lab(tmp_path: Path, deploy_ramdisk: Path) -> Iterator[DiscoveryLab]:
    lab = DiscoveryLab(tmp_path / "lab", deploy_ramdisk).start()
    yield lab
    lab.stop()


def second_disk(tmp_path: Path, serial: str, size: int) -> list[str]:
    image = tmp_path / f"{serial}.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(image), str(size)], check=True,
                   capture_output=True, timeout=60)
    return ["-drive", f"file={image},format=qcow2,if=none,id=d1,cache=unsafe",
            "-device", f"virtio-blk-pci,drive=d1,serial={serial}"]


def wait_powered_off(g: Guest, timeout: float) -> float:
    deadline = time.monotonic() + timeout
    while g.alive:
        if time.monotonic() > deadline:
            raise g.fail("power off after the report", f"still running after {timeout:.0f}s")
        time.sleep(1)
    return g.elapsed()


def test_unknown_machine_reports_exactly_its_hardware(lab: DiscoveryLab, guest: Callable[..., Guest],
                                                      tmp_path: Path, boot_timings: dict) -> None:
    (first_serial, first_size), (other_serial, other_size) = DISKS.items()
    g = guest(tftp_dir=lab.tftp, mac=MAC, firmware="uefi", blank_disk_size=str(first_size),
              disk_serial=first_serial, memory_mb=MEMORY_MB, cpus=CPUS, leading_nics=(SECOND_NIC,),
              extra_args=[*OVMF_NO_NETSTACK, *second_disk(tmp_path, other_serial, other_size),
                          "-smbios", f"type=1,manufacturer={DMI['vendor']},product={DMI['product']},"
                                     f"serial={DMI['serial']}"])
    row = g.wait_until(lambda: (found := lab.discovered()) and found["facts"] and found, 420,
                       "discovery: ramdisk booted and facts reported", interval=2)
    reported_at = g.elapsed()
    off_at = wait_powered_off(g, 120)
    boot_timings["discovery_boot"] = {"reported": round(reported_at, 1), "powered_off": round(off_at, 1)}

    facts = row["facts"]
    print(f"\ndiscovery report: {facts}")
    assert {d["serial"]: d["size_bytes"] for d in facts["disks"]} == DISKS
    for disk in facts["disks"]:
        assert (disk["rotational"], disk["removable"], disk["transport"]) == (True, False, "virtio"), disk
    assert sorted((n["mac"], n["link"], n["driver"]) for n in facts["nics"]) == [
        (MAC, True, "virtio_net"), (SECOND_NIC, True, "virtio_net")]
    assert facts["firmware"] == {"mode": "uefi", "secure_boot": FIRMWARE_SECURE_BOOT}
    assert facts["dmi"] == DMI
    assert facts["cpu"]["cores"] == CPUS
    assert facts["memory_bytes"] == MEMORY_MB * 2**20
    assert [(gpu["vendor_id"], gpu["vendor"]) for gpu in facts["gpus"]] == [("0x1234", "QEMU")]  # std VGA
    assert suggest_accept(facts, MAC)["disk"] == {"serial": other_serial}  # the larger disk
    # `seedbed discovered --json` shows the same row, with the accept suggestion.
    listed = subprocess.run([*lab.cli, "discovered", "--json", *lab.where], capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert listed.returncode == 0, listed.stderr
    (cli_row,) = [r for r in json.loads(listed.stdout) if r["mac"] == MAC]
    assert cli_row["facts"] == facts and cli_row["suggested"]["disk"] == {"serial": other_serial}
    # Reported once: the next PXE boot of that MAC is the local disk's.
    script = requests.get(f"{lab.server.url}/ipxe", params={"mac": MAC}, timeout=10).text
    assert "sanboot" in script and "seedbed.report" not in script
