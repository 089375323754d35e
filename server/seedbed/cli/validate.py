"""`seedbed validate`: every problem in an inventory, and what the firmware must be set to."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..checks import seed_problems
from ..inventory import Inventory, load_inventory
from .common import Commands


def add_commands(commands: Commands) -> None:
    p = commands.command("validate", validate, "check an inventory and list every problem")
    p.add_argument("file", type=Path)


def validate(args: argparse.Namespace) -> int:
    loaded = load_inventory(args.file)
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    inv = loaded.inventory
    problems = seed_problems(inv)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{args.file}: OK, {len(inv.nodes)} nodes in {inv.site.domain} ({inv.site.subnet})")
    for note in firmware_notes(inv):
        print(f"note: {note}")
    return 0


def firmware_notes(inv: Inventory) -> list[str]:
    """What every node's firmware and the boot path need, said where admins look."""
    notes = [
        "Secure Boot must be off in each node's firmware: the iPXE chain seedbed serves is not "
        "signed (the NVIDIA modules are Canonical's signed prebuilt ones and load either way)",
        "each node's booting NIC must come first in the firmware's network boot order; any of "
        "its inventory macs may boot it (BOOTIF names that one to the installer)",
    ]
    if inv.discovery.boot:
        notes.append("discovery.boot: an unknown MAC's first PXE boot gets the deploy ramdisk, which "
                     "reports its hardware (`seedbed discovered`) and powers off: build it into the "
                     "files folder with `python -m seedbed.deploy.ramdisk --out FILES/deploy`")
    own = urlsplit(inv.site.base_url)
    if (own.port or 80) != 80:
        notes.append(f"GRUB netboot clients before 2.12 reach seedbed on port 80 only, not "
                     f"{own.port} (upstream GRUB; some distribution builds, such as Debian 12's, "
                     "carry a port patch): run `seedbed serve --grub-port 80` for them")
    for where, url in boot_urls(inv):
        parts = urlsplit(url)
        if parts.netloc != own.netloc and (parts.port or 80) != 80:
            notes.append(f"{where}: {url} is on port {parts.port}: GRUB before 2.12 cannot fetch "
                         "it (iPXE can)")
    return notes


def boot_urls(inv: Inventory) -> list[tuple[str, str]]:
    """The kernel and initrd URLs the inventory names outright (not files seedbed serves)."""
    sources = [("installer", inv.installer)]
    sources += [(f"profiles.{name}", profile) for name, profile in inv.profiles.items()]
    return [(f"{where}.{field}", getattr(source, field)) for where, source in sources
            for field in ("kernel", "initrd") if getattr(source, field).startswith("http://")]
