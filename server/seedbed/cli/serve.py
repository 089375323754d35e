"""`seedbed serve`: the service, its HTTP listeners and (optionally) dnsmasq, wired here."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import cpu_placement, httpserver
from .common import Commands, open_seedbed, whole_number, with_state


def add_commands(commands: Commands) -> None:
    p = commands.command("serve", serve, "run the provisioning service (waitress WSGI server)")
    with_state(p)
    p.add_argument("--files", type=Path, help="boot artifacts folder (default: STATE/files)")
    p.add_argument("--host", default="0.0.0.0")  # noqa: S104 - machines on the LAN must reach it
    p.add_argument("--port", type=whole_number(0, 65535), default=8080)
    p.add_argument("--grub-port", type=whole_number(1, 65535),
                   help="also listen here for GRUB netboot clients: GRUB before 2.12 always "
                        "connects to port 80, so give 80 when nodes boot through GRUB")
    p.add_argument("--dnsmasq", action="store_true",
                   help="also run dnsmasq (proxy or full DHCP, TFTP, DNS per the inventory)")
    p.add_argument("--cpu", type=cpu_placement.cpu_setting, default=cpu_placement.AUTO,
                   help="the CPU the threads answering requests share: a number, 'auto' (the "
                        "one serve starts on) or 'any' (no pinning); see seedbed.cpu_placement "
                        "(default: auto)")
    httpserver.add_arguments(p)


def serve(args: argparse.Namespace) -> int:
    from ..web import create_app
    from ..web.boot import MEMORY_PATHS
    from ..web.console import set_stream_limit

    logging.getLogger().setLevel(logging.INFO)
    # Every request logs a line; its record need not look up what the format never shows:
    # the calling frame, thread and process (the logging HOWTO's "Optimization"; a fifth
    # of /boot.ipxe's own time).
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging._srcfile = None  # type: ignore[attr-defined]
    limits = httpserver.limits_from_args(args)
    service = open_seedbed(args)
    app = create_app(service)
    ports = [args.port] + ([args.grub_port] if args.grub_port and args.grub_port != args.port else [])
    listen = " ".join(f"{args.host}:{port}" for port in ports)
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes
    set_stream_limit(app, limits.console_streams)
    print(f"seedbed: {len(service.inventory.nodes)} nodes from {args.inventory}, state in "
          f"{args.state}, listening on {listen}", file=sys.stderr, flush=True)
    service.start()
    try:  # after service.start(): the job threads it started are not pinned (cpu_placement)
        httpserver.serve(app, args.host, ports, limits, memory_paths=MEMORY_PATHS,
                         cpu=cpu_placement.choose(args.cpu),
                         pinned_with=[service.store.writer_thread_id()])
    finally:
        service.stop()
        service.store.settle()  # the records requests handed over are written before exit
    return 0
