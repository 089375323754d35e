"""`seedbed validate`: every problem in an inventory, and what the firmware must be set to."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from urllib.parse import urlsplit

from ..artifacts import release_problem
from ..checks import seed_problems
from ..inventory import Inventory, load_inventory
from .artifacts import default_files
from .common import Commands


def add_commands(commands: Commands) -> None:
    p = commands.command("validate", validate, "check an inventory and list every problem")
    p.add_argument("file", type=Path)
    p.add_argument("--files", type=Path, default=default_files(),
                   help="the files folder, where installer.release must have been imported "
                        "(default: $SEEDBED_FILES, else $SEEDBED_STATE/files, else ./state/files)")


def validate(args: argparse.Namespace) -> int:
    loaded = load_inventory(args.file)
    for warning in loaded.warnings:
        print(warning, file=sys.stderr)
    inv = loaded.inventory
    problems = seed_problems(inv)
    if inv.installer.release is not None:
        missing = release_problem(args.files, inv.installer.release)
        problems += [f"installer.release: {missing}"] if missing else []
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
    secure = [node.hostname for node in inv.nodes if inv.secure_boot(node)]
    others = len(inv.nodes) - len(secure)
    notes = []
    if others:
        notes.append(f"Secure Boot must be off in the firmware of the {others} node(s) without "
                     "secure_boot: true: the iPXE chain seedbed serves them is not signed")
    if secure:
        over = ("over HTTP from /grub (GRUB >= 2.12)" if inv.dhcp.grub_config == "http"
                else "from per-MAC TFTP files")
        notes.append(f"Secure Boot may stay on for {', '.join(secure)}: they get the signed shim -> "
                     f"GRUB -> kernel of {inv.installer.release}, GRUB reading its config {over}; "
                     "UEFI network boot (PXE, or HTTP boot in full DHCP mode) must be enabled")
    notes += [
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
