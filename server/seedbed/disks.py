"""One disk selector, two consumers: what the inventory's `disk:` means to each.

The inventory keeps the admin's words: `serial` as printed on the drive and by
`lsblk -o SERIAL` (the short serial), `model` and `vendor` as lsblk prints them
(spaces). The two programs that pick a disk see different views of it:

- Ubuntu's installer (subiquity, `storage.layout.match`) globs udev properties that
  systemd's 60-persistent-storage.rules builds: ID_SERIAL is `<model>_<serial>` for
  NVMe, SATA and USB alike; ID_MODEL/ID_VENDOR keep spaces for NVMe but have
  underscores for SATA (ata_id) and USB. `path` is the kernel name only.
- The deploy ramdisk (packer/deploy/select-disk.jq) globs lsblk's columns, which
  are the admin's words already.

This module is the only place that knows the difference.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the inventory's rules call selector_warnings: no import back at run time
    from .inventory.node import DiskSelector

# The glob characters both consumers understand (fnmatch and select-disk.jq).
_GLOB = re.compile(r"[*?]")


def installer_match(selector: DiskSelector) -> dict[str, Any]:
    """subiquity's `match:` mapping for the disk the admin's words describe."""
    match = selector.match()
    if selector.serial is not None:
        # ID_SERIAL = <model>_<short serial>; the short serial never has an underscore
        # prefix of its own, so `*_` anchors it at the end without matching a longer one.
        match["serial"] = f"*_{selector.serial}"
    for key in ("model", "vendor"):
        if match.get(key) is not None:
            match[key] = _spaces_or_underscores(match[key])
    return match


def ramdisk_selector(selector: DiskSelector) -> dict[str, Any]:
    """The deploy ramdisk's selector: lsblk prints what the admin copied, unchanged."""
    return selector.match()


def _spaces_or_underscores(words: str) -> str:
    # NVMe's ID_MODEL keeps "Samsung SSD 980 PRO 1TB"; ata_id/usb_id write
    # "Samsung_SSD_870_EVO_1TB" (a run of blanks becomes one underscore). One glob for both.
    return "[ _]".join(words.split())


def selector_warnings(selector: DiskSelector) -> list[str]:
    """Why a selector might not pin one disk, in the admin's terms (empty when it does)."""
    warnings = []
    pins = [k for k in ("serial", "model", "path") if getattr(selector, k) is not None]
    if selector.path is not None and selector.path.startswith("/dev/disk/"):
        warnings.append(
            f"path {selector.path!r} is a udev link: the installer matches only kernel names "
            "such as /dev/nvme0n1 (use serial: as `lsblk -o NAME,SERIAL,MODEL` prints it)")
    if not pins and selector.vendor is not None:
        warnings.append(
            f"vendor {selector.vendor!r} alone does not pin one disk (every SATA disk's vendor "
            "is ATA, NVMe disks have none): add serial or model")
    elif not pins and selector.size is not None:
        kind = "SSD" if selector.ssd else "disk"
        warnings.append(
            f"size: {selector.size} picks the {selector.size} {kind} present at install time, "
            "a USB stick or card reader included: add serial or model")
    elif not pins and selector.ssd is not None:
        warnings.append("ssd alone picks the first matching disk the installer lists: add serial or model")
    for key in ("serial", "model", "vendor"):
        value = getattr(selector, key)
        if value is not None and value != value.strip():
            warnings.append(f"{key} {value!r} has leading or trailing spaces; neither consumer sees them")
    if selector.serial is not None and "_" in selector.serial and not _GLOB.search(selector.serial):
        warnings.append(
            f"serial {selector.serial!r} looks like udev's ID_SERIAL (<model>_<serial>); give the "
            "short serial as `lsblk -o SERIAL` prints it")
    return warnings
