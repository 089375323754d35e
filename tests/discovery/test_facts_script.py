"""packer/deploy/facts (the ramdisk's fact gathering) run by bash and jq against fake
/sys, /proc and udev trees: the JSON it prints is exactly the machine's facts, and the
service's model accepts it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from seedbed.discovery import DiscoveryFacts

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "packer" / "deploy" / "facts"
SECURE_BOOT = "SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
PCI = "devices/pci0000:00"

pytestmark = pytest.mark.skipif(shutil.which("jq") is None, reason="jq is not installed (apt-get install jq)")


class Tree:
    """A fake machine: sysfs under sys/, procfs under proc/, udev's database under udev/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for part in ("sys/block", "sys/class/net", "sys/bus/pci/devices", "proc", "udev"):
            (root / part).mkdir(parents=True, exist_ok=True)

    def file(self, rel: str, text: str | bytes) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text if isinstance(text, bytes) else text.encode())

    def link(self, rel: str, target: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.symlink_to(target)

    def disk(self, name: str, device_path: str, dev: str, sectors: int, rotational: int = 0,
             removable: int = 0, udev: dict[str, str] | None = None, **attrs: str) -> None:
        real = f"sys/{device_path}/block/{name}"
        self.file(f"{real}/size", f"{sectors}\n")
        self.file(f"{real}/dev", f"{dev}\n")
        self.file(f"{real}/queue/rotational", f"{rotational}\n")
        self.file(f"{real}/removable", f"{removable}\n")
        for rel, text in attrs.items():
            self.file(f"{real}/{rel.replace('__', '/')}", text)
        self.link(f"sys/block/{name}", os.path.relpath(self.root / real, self.root / "sys/block"))
        if udev:
            self.file(f"udev/b{dev}", "".join(f"E:{k}={v}\n" for k, v in udev.items()))

    def pci(self, address: str, klass: str, vendor: str, device: str) -> None:
        for name, value in (("class", klass), ("vendor", vendor), ("device", device)):
            self.file(f"sys/{PCI}/{address}/{name}", f"{value}\n")
        self.link(f"sys/bus/pci/devices/{address}", f"../../../{PCI}/{address}")

    def nic(self, name: str, mac: str, pci: str | None, driver: str | None = None,
            carrier: str | None = None) -> None:
        self.file(f"sys/class/net/{name}/address", f"{mac}\n")
        if carrier is not None:
            self.file(f"sys/class/net/{name}/carrier", f"{carrier}\n")
        if pci is not None:
            self.link(f"sys/class/net/{name}/device", f"../../../{PCI}/{pci}")
            if driver:
                self.file(f"sys/bus/pci/drivers/{driver}/.keep", "")
                self.link(f"sys/{PCI}/{pci}/driver", f"../../../bus/pci/drivers/{driver}")

    def run(self) -> dict[str, Any]:
        env = {"PATH": os.environ["PATH"], "SYSFS": str(self.root / "sys"),
               "PROCFS": str(self.root / "proc"), "UDEV_DATA": str(self.root / "udev")}
        proc = subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, f"facts exited {proc.returncode}: {proc.stderr}"
        assert proc.stderr == "", proc.stderr
        return json.loads(proc.stdout)


def workstation(tmp_path: Path) -> Tree:
    """A UEFI GPU workstation: NVMe + SATA + a USB stick, two NICs (one down), two GPUs."""
    t = Tree(tmp_path)
    t.file("proc/cpuinfo", "".join(f"processor\t: {i}\nvendor_id\t: AuthenticAMD\nmodel name\t: "
                                   "AMD Ryzen Threadripper PRO 5955WX 16-Cores\n\n" for i in range(32)))
    t.file("proc/meminfo", "MemTotal:       131072000 kB\nMemFree:        1000 kB\n")
    t.file("sys/devices/system/memory/block_size_bytes", "8000000\n")  # 128 MiB, in hex
    for i in range(4):
        t.file(f"sys/devices/system/memory/memory{i}/online", "1\n" if i < 3 else "0\n")
    t.disk("nvme0n1", f"{PCI}/0000:01:00.0/nvme/nvme0", "259:0", 1953525168,
           udev={"ID_SERIAL_SHORT": "S5GXNF0R100002", "ID_SERIAL": "Samsung_SSD_980_PRO_1TB_S5GXNF0R100002",
                 "ID_MODEL_ENC": r"Samsung\x20SSD\x20980\x20PRO\x201TB\x20\x20\x20\x20"})
    t.disk("sda", f"{PCI}/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0", "8:0", 7814037168, rotational=1,
           udev={"ID_SERIAL_SHORT": "ZL2ABCDE", "ID_SERIAL": "ST4000NM0035-1V4107_ZL2ABCDE"},
           device__model="ST4000NM0035-1V4\n")
    t.disk("sdb", f"{PCI}/0000:00:14.0/usb2/2-1/2-1:1.0/host1/target1:0:0/1:0:0:0", "8:16", 15633408,
           removable=1, device__model="Extreme Pro     \n",
           udev={"ID_SERIAL_SHORT": "4C531001550602107203"})
    t.disk("loop0", "devices/virtual", "7:0", 1024)
    t.disk("zram0", "devices/virtual", "252:0", 0)
    t.pci("0000:00:1f.6", "0x020000", "0x8086", "0x15bc")
    t.pci("0000:02:00.0", "0x020000", "0x8086", "0x1533")
    t.pci("0000:41:00.0", "0x030000", "0x10de", "0x2204")
    t.pci("0000:42:00.0", "0x030200", "0x10de", "0x20b5")
    t.pci("0000:00:1f.3", "0x040300", "0x8086", "0xa348")  # audio: not a GPU
    t.nic("lo", "00:00:00:00:00:00", None, carrier="1")
    t.nic("eno1", "3C:EC:EF:10:00:01", "0000:00:1f.6", "e1000e", carrier="1")
    t.nic("enp2s0", "3c:ec:ef:10:00:02", "0000:02:00.0", "igb")  # down: carrier unreadable
    t.nic("docker0", "02:42:ac:11:00:01", None, carrier="0")
    t.file(f"sys/firmware/efi/efivars/{SECURE_BOOT}", b"\x06\x00\x00\x00\x01")
    t.file("sys/class/dmi/id/sys_vendor", "Supermicro\n")
    t.file("sys/class/dmi/id/product_name", 'Super "Server" $(reboot)\n')
    t.file("sys/class/dmi/id/product_serial", "  S1234567  \n")
    return t


def test_workstation_facts_are_exactly_its_hardware(tmp_path: Path) -> None:
    facts = workstation(tmp_path).run()
    assert facts == {
        "cpu": {"model": "AMD Ryzen Threadripper PRO 5955WX 16-Cores", "cores": 32},
        "memory_bytes": 3 * 128 * 2**20,  # the online memory blocks, not MemTotal
        "disks": [
            {"name": "nvme0n1", "serial": "S5GXNF0R100002", "model": "Samsung SSD 980 PRO 1TB",
             "size_bytes": 1953525168 * 512, "rotational": False, "removable": False, "transport": "nvme"},
            {"name": "sda", "serial": "ZL2ABCDE", "model": "ST4000NM0035-1V4",
             "size_bytes": 7814037168 * 512, "rotational": True, "removable": False, "transport": "sata"},
            {"name": "sdb", "serial": "4C531001550602107203", "model": "Extreme Pro",
             "size_bytes": 15633408 * 512, "rotational": False, "removable": True, "transport": "usb"},
        ],
        "nics": [{"name": "eno1", "mac": "3C:EC:EF:10:00:01", "link": True, "driver": "e1000e"},
                 {"name": "enp2s0", "mac": "3c:ec:ef:10:00:02", "link": None, "driver": "igb"}],
        "gpus": [{"vendor_id": "0x10de", "device_id": "0x2204", "pci": "0000:41:00.0"},
                 {"vendor_id": "0x10de", "device_id": "0x20b5", "pci": "0000:42:00.0"}],
        "firmware": {"mode": "uefi", "secure_boot": True},
        "dmi": {"vendor": "Supermicro", "product": 'Super "Server" $(reboot)', "serial": "S1234567"},
    }
    DiscoveryFacts.model_validate(facts)  # what the service accepts


def test_bios_machine_without_udev_or_memory_blocks(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.file("proc/cpuinfo", "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\n")
    t.file("proc/meminfo", "MemTotal:        1004000 kB\n")
    t.disk("vda", f"{PCI}/0000:00:04.0/virtio1", "254:0", 2097152, rotational=1, serial="disk-a\n")
    facts = t.run()
    assert facts["memory_bytes"] == 1004000 * 1024
    assert facts["disks"] == [{"name": "vda", "serial": "disk-a", "model": None, "size_bytes": 2**30,
                               "rotational": True, "removable": False, "transport": "virtio"}]
    assert facts["firmware"] == {"mode": "bios", "secure_boot": False}
    assert facts["nics"] == [] and facts["gpus"] == []
    assert facts["dmi"] == {"vendor": None, "product": None, "serial": None}
    DiscoveryFacts.model_validate(facts)


def test_uefi_without_a_readable_secure_boot_variable_is_unknown(tmp_path: Path) -> None:
    t = Tree(tmp_path)
    t.file("proc/cpuinfo", "processor\t: 0\n")
    t.file("proc/meminfo", "MemTotal: 1 kB\n")
    (tmp_path / "sys/firmware/efi").mkdir(parents=True)
    assert t.run()["firmware"] == {"mode": "uefi", "secure_boot": None}
    t.file(f"sys/firmware/efi/efivars/{SECURE_BOOT}", b"\x06\x00\x00\x00\x00")
    assert t.run()["firmware"] == {"mode": "uefi", "secure_boot": False}


def test_odd_texts_are_cleaned_so_the_report_is_still_taken(tmp_path: Path) -> None:
    """Control characters and over-long strings (seen in cheap boards' DMI tables) would make
    seedbed refuse the whole report: they are dropped and cut as they are read."""
    t = Tree(tmp_path)
    t.file("proc/cpuinfo", "processor\t: 0\nmodel name\t: Fancy\x07 CPU\n")
    t.file("proc/meminfo", "MemTotal: 1 kB\n")
    t.file("sys/class/dmi/id/sys_vendor", b"To Be Filled\x01 By O.E.M.\x00\n")
    t.file("sys/class/dmi/id/product_name", "P" * 300 + "\n")
    t.disk("sda", f"{PCI}/0000:00:17.0/ata1/host0/target0:0:0/0:0:0:0", "8:0", 8,
           udev={"ID_SERIAL_SHORT": "AB\x1bC", "ID_MODEL_ENC": r"Disk\x2fOne\x09\x20\x20"})
    facts = t.run()
    assert facts["cpu"]["model"] == "Fancy CPU"
    assert facts["dmi"]["vendor"] == "To Be Filled By O.E.M."
    assert facts["dmi"]["product"] == "P" * 128
    assert (facts["disks"][0]["serial"], facts["disks"][0]["model"]) == ("ABC", "Disk/One")
    DiscoveryFacts.model_validate(facts)
