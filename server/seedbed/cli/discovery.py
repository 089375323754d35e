"""`seedbed discovered`: machines that PXE-booted with an unknown MAC, and their hardware."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..discovery import hardware_summary, suggest_accept
from .common import Commands, ago, open_seedbed, table, with_state


def add_commands(commands: Commands) -> None:
    p = commands.command("discovered", discovered,
                         "list unknown machines that booted: MAC, hardware reported, suggested disk")
    with_state(p)
    p.add_argument("--json", action="store_true",
                   help="every row with its facts and the accept suggestion, as JSON")


def discovered(args: argparse.Namespace) -> int:
    rows = open_seedbed(args, read_only=True).store.discovered()
    for row in rows:
        row["suggested"] = suggest_accept(row["facts"], row["mac"])
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
        return 0
    lines = [["MAC", "SEEN", "BOOTS", "HARDWARE", "SYSTEM DISK", "ACCEPTED AS"]]
    for row in rows:
        lines.append([row["mac"], ago(row["last_seen"]), str(row["boots"]), hardware_summary(row["facts"]),
                      disk_words(row["suggested"]["disk"]) if row["facts"] else "-",
                      row["accepted_as"] or "-"])
    print(table(lines))
    return 0


def disk_words(selector: dict[str, Any]) -> str:
    return " ".join(f"{key}={value}" for key, value in selector.items())
