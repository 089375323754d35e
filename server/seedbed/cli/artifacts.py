"""`seedbed artifacts import`: the installer's kernel, initrd and signed boot chain from the ISO."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..artifacts import import_iso
from .common import Commands


def add_commands(commands: Commands) -> None:
    p = commands.command("artifacts", _run, "boot artifacts in the files folder")
    p.add_argument("action", choices=["import"])
    p.add_argument("iso", type=Path, help="the Ubuntu live-server ISO (read with xorriso)")
    p.add_argument("--sha256SUMS", dest="sums", type=Path,
                   help="Ubuntu's SHA256SUMS for that release: the ISO is checked first")
    p.add_argument("--files", type=Path, default=default_files(),
                   help="the files folder seedbed serves (default: $SEEDBED_FILES, else "
                        "$SEEDBED_STATE/files, else ./state/files)")
    p.add_argument("--release", help="the release's name (default: the ISO's file name "
                                     "without .iso); the inventory's installer.release")


def default_files() -> Path:
    if os.environ.get("SEEDBED_FILES"):
        return Path(os.environ["SEEDBED_FILES"])
    return Path(os.environ.get("SEEDBED_STATE", "state")) / "files"


def _run(args: argparse.Namespace) -> int:
    done = import_iso(args.iso, args.files, args.release, args.sums)
    verb = "imported into" if done.changed else "already in"
    print(f"{done.release}: {verb} {done.folder}")
    for name, entry in done.manifest["files"].items():
        print(f"  {entry['sha256']}  {name}")
    print(f"inventory: installer: {{release: {done.release}, iso: ...}}")
    return 0
