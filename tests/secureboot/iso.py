"""A small ISO in the Ubuntu live-server layout, made with xorriso, for `artifacts import`."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

# The ISO's paths as Ubuntu 20.04 spells them (22.04 and later: EFI/boot/bootx64.efi).
UBUNTU_LAYOUT = {"casper/vmlinuz": "casper/vmlinuz", "casper/initrd": "casper/initrd",
                 "EFI/boot/bootx64.efi": "EFI/BOOT/BOOTx64.EFI",
                 "EFI/boot/grubx64.efi": "EFI/BOOT/grubx64.efi"}


def make_iso(out: Path, files: dict[str, Path], label: str = "SEEDBED_TEST") -> Path:
    """`files`: release name (casper/vmlinuz, ...) -> the host file to put at its ISO path."""
    grafts = [f"/{UBUNTU_LAYOUT[name]}={source}" for name, source in files.items()]
    subprocess.run(["xorriso", "-as", "mkisofs", "-quiet", "-o", str(out), "-V", label, "-R", "-J",
                    "-graft-points", *grafts], check=True, capture_output=True, timeout=120,
                   stdin=subprocess.DEVNULL)
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sums_file(path: Path, iso: Path, digest: str | None = None) -> Path:
    """Ubuntu's SHA256SUMS form: `HEX *name`."""
    path.write_text(f"{'0' * 64} *other.iso\n{digest or sha256(iso)} *{iso.name}\n")
    return path
