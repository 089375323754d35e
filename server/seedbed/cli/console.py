"""`seedbed admin password`: set the console's admin password (read from the terminal or stdin,
never from the command line, where other users could read it in the process list)."""

from __future__ import annotations

import argparse
import getpass
import sys

from ..admin_password import AdminPassword, PasswordError
from ..errors import SeedbedError
from .common import Commands, with_state


def add_commands(commands: Commands) -> None:
    p = commands.command("admin", set_password,
                         "set the web console's admin password (asked twice on a terminal, "
                         "else the first line of stdin)")
    with_state(p)
    p.add_argument("action", choices=["password"])


def read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("new admin password: ")
    if getpass.getpass("again: ") != first:
        raise SeedbedError("seedbed admin password: the two entries differ; nothing changed")
    return first


def set_password(args: argparse.Namespace) -> int:
    password = AdminPassword(args.state)
    args.state.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        password.set(read_password())
    except PasswordError as exc:
        raise SeedbedError(f"seedbed admin password: {exc}; nothing changed") from None
    print(f"seedbed: admin password set in {password.path} (scrypt); signed-in console sessions "
          "end now", file=sys.stderr)
    return 0
