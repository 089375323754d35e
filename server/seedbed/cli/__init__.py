"""The `seedbed` command: serve, validate, render, and look after the nodes.

Each command group is one module here with `add_commands(commands)`; `COMMAND_MODULES` is the
order they appear in `seedbed --help`. Wiring happens here, at the top: feature packages never
import the CLI or the service."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Sequence
from typing import NoReturn

from ..errors import SeedbedError
from . import artifacts, cluster, console, discovery, nodes, render, serve, validate
from .common import Commands

COMMAND_MODULES = (serve, validate, render, nodes, discovery, cluster, console, artifacts)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except SeedbedError as exc:
        print(exc, file=sys.stderr)
        return getattr(exc, "exit_status", 1)
    except OSError as exc:  # a file the user named (or the state folder) cannot be used
        where = f": {exc.filename}" if exc.filename else ""
        print(f"seedbed: {exc.strerror or exc}{where}", file=sys.stderr)
        return 1
    except sqlite3.DatabaseError as exc:  # not a store, or a damaged one
        print(f"seedbed: the state folder's store cannot be read: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error said in one line (the usage is one --help away)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    top = _Parser(prog="seedbed", description=__doc__.split("\n\n")[0])
    top.add_argument("-v", "--verbose", action="store_true")
    commands = Commands(top.add_subparsers(required=True, metavar="COMMAND"))
    for module in COMMAND_MODULES:
        module.add_commands(commands)
    return top
