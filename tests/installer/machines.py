"""Machine descriptions in the shapes real hardware reports, built from data.

One `Disk` says what a drive is (bus, model and serial as printed on it, size,
rotational); from it come both views the two disk-picking programs see:
- `udev()`: the properties systemd's 60-persistent-storage.rules builds (what
  probert records and subiquity globs): NVMe ID_MODEL keeps spaces and
  ID_SERIAL = "<model>_<serial>"; SATA through ata_id has underscores and
  ID_VENDOR=ATA; USB through usb_id has vendor_model_serial-0:0;
- `lsblk()`: the row `lsblk -J -b -d -o PATH,NAME,TYPE,SIZE,ROTA,RO,SERIAL,MODEL,VENDOR`
  prints in the deploy ramdisk (short serial, model with spaces).
`machine()` wraps disks and NICs into a probert document like subiquity's examples/*.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

GB = 10**9


def _enc(text: str) -> str:
    """udev's *_ENC form: the raw string with spaces as \\x20."""
    return text.replace(" ", "\\x20")


def _underscores(text: str) -> str:
    """udev's replace_whitespace(): trimmed, runs of spaces as one underscore."""
    return "_".join(text.split())


@dataclass(frozen=True)
class Disk:
    name: str  # kernel name: nvme0n1, sda
    bus: Literal["nvme", "ata", "usb"]
    model: str  # as the drive reports it
    serial: str  # the short serial, as printed on the label
    size: int
    rotational: bool
    vendor: str = ""  # USB only: the device's vendor string
    removable: bool = False
    pci: str = "0000:00:00.0"

    @property
    def path(self) -> str:
        return f"/dev/{self.name}"

    @property
    def major_minor(self) -> tuple[int, int]:
        if self.bus == "nvme":
            return 259, int(self.name[4]) * 2
        return 8, (ord(self.name[2]) - ord("a")) * 16

    def udev(self) -> dict[str, str]:
        if self.bus == "nvme":
            props = {"ID_MODEL": self.model, "ID_SERIAL_SHORT": self.serial,
                     "ID_SERIAL": f"{self.model}_{self.serial}",
                     "ID_PATH": f"pci-{self.pci}-nvme-1"}
            link = f"nvme-{_underscores(props['ID_SERIAL'])}"
        elif self.bus == "ata":
            model = _underscores(self.model)
            props = {"ID_ATA": "1", "ID_BUS": "ata", "ID_TYPE": "disk", "ID_MODEL": model,
                     "ID_MODEL_ENC": _enc(self.model), "ID_SERIAL_SHORT": self.serial,
                     "ID_SERIAL": f"{model}_{self.serial}", "ID_VENDOR": "ATA",
                     "ID_VENDOR_ENC": "ATA\\x20\\x20\\x20\\x20\\x20",
                     "ID_PATH": f"pci-{self.pci}-ata-{ord(self.name[2]) - ord('a') + 1}"}
            link = f"ata-{props['ID_SERIAL']}"
        else:
            vendor, model = _underscores(self.vendor), _underscores(self.model)
            props = {"ID_BUS": "usb", "ID_TYPE": "disk", "ID_MODEL": model,
                     "ID_MODEL_ENC": _enc(self.model), "ID_VENDOR": vendor,
                     "ID_VENDOR_ENC": _enc(self.vendor), "ID_SERIAL_SHORT": self.serial,
                     "ID_SERIAL": f"{vendor}_{model}_{self.serial}-0:0", "ID_USB_DRIVER": "usb-storage",
                     "ID_PATH": f"pci-{self.pci}-usb-0:2:1.0-scsi-0:0:0:0"}
            link = f"usb-{props['ID_SERIAL']}"
        major, minor = self.major_minor
        devpath = f"/devices/pci0000:00/{self.pci}/block/{self.name}"
        return {
            "DEVNAME": self.path, "DEVPATH": devpath, "DEVTYPE": "disk", "SUBSYSTEM": "block",
            "MAJOR": str(major), "MINOR": str(minor), "TAGS": ":systemd:",
            "DEVLINKS": f"/dev/disk/by-id/{link} /dev/disk/by-path/{props['ID_PATH']}",
            **props,
            "attrs": {"size": str(self.size), "removable": "1" if self.removable else "0",
                      "ro": "0", "dev": f"{major}:{minor}", "alignment_offset": "0",
                      "discard_alignment": "0", "capability": "50", "subsystem": "block",
                      "device": None, "bdi": None, "hidden": "0", "range": "16", "ext_range": "256",
                      "uevent": f"MAJOR={major}\nMINOR={minor}\nDEVNAME={self.name}\nDEVTYPE=disk"},
        }

    @property
    def controller(self) -> str | None:
        """The NVMe controller's kernel name (nvme0 for nvme0n1); None for other buses."""
        return self.name.split("n1")[0] if self.bus == "nvme" else None

    def nvme_controller(self) -> dict[str, Any]:
        """The controller as probert (24.04's, which curtin's storage config needs) records it."""
        major, minor = 238, int(self.name[4])
        return {"DEVNAME": f"/dev/{self.controller}", "NVME_TRTYPE": "pcie", "SUBSYSTEM": "nvme",
                "DEVPATH": f"/devices/pci0000:00/{self.pci}/nvme/{self.controller}/",
                "MAJOR": str(major), "MINOR": str(minor),
                "attrs": {"address": self.pci, "model": self.model, "serial": self.serial,
                          "transport": "pcie", "state": "live", "dev": f"{major}:{minor}",
                          "subsystem": "nvme"}}

    def lsblk(self) -> dict[str, Any]:
        # lsblk decodes ID_MODEL_ENC/ID_VENDOR_ENC (spaces), takes ID_SERIAL_SHORT as
        # SERIAL, and reads sysfs for NVMe (no vendor there).
        vendor = {"nvme": None, "ata": "ATA     ", "usb": self.vendor}[self.bus]
        return {"path": self.path, "name": self.name, "type": "disk", "size": self.size,
                "rota": self.rotational, "ro": False, "serial": self.serial, "model": self.model,
                "vendor": vendor}


@dataclass(frozen=True)
class Machine:
    name: str
    disks: tuple[Disk, ...]
    macs: tuple[str, ...] = ()

    def probert(self) -> dict[str, Any]:
        """The machine as probert reports it (subiquity's --machine-config)."""
        links = [_link(i + 2, f"enp{i + 1}s0", mac) for i, mac in enumerate(self.macs)]
        return {
            "network": {"links": links, "routes": []},
            "storage": {"bcache": {"backing": {}, "caching": {}},
                        "blockdev": {d.path: d.udev() for d in self.disks},
                        "dmcrypt": {}, "filesystem": {}, "lvm": {}, "mount": [], "multipath": {},
                        "nvme": {c: d.nvme_controller() for d in self.disks
                                 if (c := d.controller) is not None},
                        "raid": {}, "zfs": {"zpools": {}}},
        }

    def lsblk(self) -> dict[str, Any]:
        return {"blockdevices": [d.lsblk() for d in self.disks]}

    def rotational(self) -> dict[str, bool]:
        return {d.name: d.rotational for d in self.disks}

    def disk(self, name: str) -> Disk:
        return next(d for d in self.disks if d.name == name)

    def with_macs(self, macs: list[str]) -> Machine:
        return Machine(self.name, self.disks, tuple(macs))


def _link(ifindex: int, name: str, mac: str) -> dict[str, Any]:
    return {
        "addresses": [], "type": "eth",
        "bond": {"is_master": False, "is_slave": False, "lacp_rate": None, "master": None,
                 "mode": None, "slaves": [], "xmit_hash_policy": None},
        "bridge": {"interfaces": [], "is_bridge": False, "is_port": False, "options": {}},
        "netlink_data": {"arptype": 1, "family": 0, "flags": 69699, "ifindex": ifindex,
                         "is_vlan": False, "name": name},
        "udev_data": {"INTERFACE": name, "IFINDEX": str(ifindex), "SUBSYSTEM": "net",
                      "ID_NET_NAME_PATH": name, "ID_BUS": "pci",
                      "attrs": {"address": mac, "carrier": "1", "operstate": "up", "mtu": "1500",
                                "type": "1", "ifindex": str(ifindex)}},
    }


# A GPU workstation as the lab buys them: two NVMe drives, a SATA SSD and a SATA disk
# for data, a USB SSD stick left in a port (it reports non-rotational) and the
# front-panel card reader with a card in it.
WORKSTATION = Machine("workstation", (
    Disk("nvme0n1", "nvme", "Samsung SSD 990 PRO 2TB", "S73WNJ0W500001", 2000 * GB, False,
         pci="0000:01:00.0"),
    Disk("nvme1n1", "nvme", "Samsung SSD 980 PRO 1TB", "S5GXNF0R100002", 1000 * GB, False,
         pci="0000:02:00.0"),
    Disk("sda", "ata", "Samsung SSD 870 EVO 1TB", "S6PTNZ0R123456", 1000 * GB, False,
         pci="0000:00:17.0"),
    Disk("sdb", "ata", "ST4000DM004-2CV104", "ZFN0ABCD", 4000 * GB, True, pci="0000:00:17.0"),
    Disk("sdc", "usb", "Extreme Pro", "4C531001550602107203", 128 * GB, False, vendor="SanDisk",
         removable=True, pci="0000:00:14.0"),
    Disk("sdd", "usb", "SD/MMC", "20120501030900000", 64 * GB, True, vendor="Generic-",
         removable=True, pci="0000:00:14.0"),
))

# An older box: one SATA SSD and a larger SATA disk, plus a USB stick that is the
# largest device in it.
SMALL_SERVER = Machine("small-server", (
    Disk("sda", "ata", "INTEL SSDSC2KB480G8", "PHYF912345AB480BGN", 480 * GB, False,
         pci="0000:00:1f.2"),
    Disk("sdb", "ata", "WDC WD20EFRX-68EUZN0", "WD-WCC4M1234567", 2000 * GB, True,
         pci="0000:00:1f.2"),
    Disk("sdc", "usb", "Ultra Fit", "4C530001230508115311", 256 * GB, True, vendor="SanDisk",
         removable=True, pci="0000:00:14.0"),
))
