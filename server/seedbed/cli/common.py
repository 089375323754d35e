"""What every command module shares: how a command is declared, the inventory and state
options, opening the service, and the plain-text table the listing commands print."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..cluster import ClusterOptions
from ..inventory import normalize_mac
from ..power import PowerOptions
from ..resources import default_inventory
from ..service import Seedbed, Settings

Run = Callable[[argparse.Namespace], int]


@dataclass(frozen=True)
class Commands:
    """The subparsers of `seedbed`, handed to each command module's `add_commands`."""

    sub: Any  # argparse's private _SubParsersAction

    def command(self, name: str, run: Run, help_text: str) -> argparse.ArgumentParser:
        p = self.sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=run)
        return p


def whole_number(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer from `low` to `high` (argparse says so in one line)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{value} is not between {low} and {high}")
        return value

    return parse


def mac_address(text: str) -> str:
    """An argparse type: a MAC in any form the inventory takes, normalized."""
    try:
        return normalize_mac(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def with_inventory(p: argparse.ArgumentParser) -> None:
    p.add_argument("--inventory", type=Path,
                   default=Path(os.environ.get("SEEDBED_INVENTORY") or default_inventory()),
                   help="inventory YAML (default: $SEEDBED_INVENTORY or the example lab)")


def with_state(p: argparse.ArgumentParser) -> None:
    with_inventory(p)
    p.add_argument("--state", type=Path, default=Path(os.environ.get("SEEDBED_STATE", "state")),
                   help="state folder holding the SQLite store (default: $SEEDBED_STATE or ./state)")


def open_seedbed(args: argparse.Namespace, read_only: bool = False) -> Seedbed:
    """The service's parts from the command's options; `read_only` for commands that only
    look (they leave the state folder as it is, even absent)."""
    return Seedbed(Settings(inventory_path=args.inventory, state_dir=args.state,
                            files_dir=getattr(args, "files", None),
                            cluster=ClusterOptions.from_env(os.environ),
                            power=PowerOptions.from_env(os.environ),
                            dnsmasq=getattr(args, "dnsmasq", False)),
                   read_only=read_only)


def ago(at: float | None) -> str:
    if at is None:
        return "-"
    seconds = max(0, int(time.time() - at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)
