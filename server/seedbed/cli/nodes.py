"""`seedbed nodes|events|reinstall|token`: look after the nodes and the admin API's tokens."""

from __future__ import annotations

import argparse
import sys
import time

from ..tokens import new_token, token_hash
from ..views import inventory_node, node_summaries
from ..web.models import EVENTS_MAX_LIMIT, REINSTALL_MAX_MINUTES
from . import power as power_cli
from .common import Commands, ago, open_seedbed, table, whole_number, with_state


def add_commands(commands: Commands) -> None:
    p = commands.command("nodes", nodes, "list the nodes: hostname, MAC, state, last event, since")
    with_state(p)

    p = commands.command("events", events, "show a node's events")
    with_state(p)
    p.add_argument("hostname")
    p.add_argument("--limit", type=whole_number(0, EVENTS_MAX_LIMIT), default=50)

    p = commands.command("reinstall", reinstall, "arm a node so its next PXE boot reinstalls it")
    with_state(p)
    p.add_argument("hostname")
    p.add_argument("--minutes", type=whole_number(1, REINSTALL_MAX_MINUTES),
                   help="how long it stays armed (default: the site's window)")
    p.add_argument("--power", action="store_true",
                   help="then boot it from the network once and power cycle it (its `power:`)")
    power_cli.add_wait_options(p)

    p = commands.command("token", token, "create an admin API bearer token (shown once, stored hashed)")
    with_state(p)
    p.add_argument("action", choices=["create"])
    p.add_argument("--label", default="admin")


def nodes(args: argparse.Namespace) -> int:
    service = open_seedbed(args, read_only=True)
    rows = [["HOSTNAME", "MAC", "STATE", "LAST EVENT", "SINCE"]]
    for s in node_summaries(service.inventory, service.lifecycle):
        state = s["state"] + (" (armed)" if s["armed"] and s["state"] != "new" else "")
        if s["state"] == "new" and not s["armed"]:
            state += " (window closed: seedbed reinstall)"
        last = (s["last_event"] or "-")[:60]
        rows.append([s["hostname"], s["macs"][0], state, last, ago(s["since"])])
        rows.extend(["", "", "", f"  ! {reason}", ""] for reason in s["health"])
    print(table(rows))
    return 0


def events(args: argparse.Namespace) -> int:
    service = open_seedbed(args, read_only=True)
    inventory_node(service.inventory, args.hostname)
    for event in service.store.events(args.hostname, limit=args.limit):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.at))
        print(f"{stamp}  {event.kind:<10} {event.message}")
    return 0


def reinstall(args: argparse.Namespace) -> int:
    service = open_seedbed(args)
    inv = service.inventory
    inventory_node(inv, args.hostname)
    minutes = args.minutes or inv.site.reinstall_window_minutes
    if args.power:
        job_id = service.power_action(args.hostname, "reinstall", "cli", minutes)
    else:
        service.lifecycle.rearm(args.hostname, minutes * 60, who="cli")
    row = service.store.node(args.hostname)
    assert row is not None  # rearm made it
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.armed_until or 0))
    print(f"{args.hostname}: armed for reinstall until {until}; its next PXE boot installs it")
    if args.power:
        return power_cli.follow(service.power, job_id, args)
    return 0


def token(args: argparse.Namespace) -> int:
    service = open_seedbed(args)
    new = new_token()
    service.store.add_admin_token(token_hash(new), args.label)
    print(new)
    print("seedbed: keep this token; only its hash is stored", file=sys.stderr)
    return 0
