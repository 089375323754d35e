"""The `seedbed` command: serve, validate, render, and look after the nodes."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from . import httpserver, render, seeds
from .boot import NetbootRequest, decide_now, install_method, install_profile, with_seed
from .checks import autoinstall_problems
from .cluster import ClusterOptions
from .cluster import commands as cluster_cli
from .inventory import Inventory, InventoryError, load_inventory, normalize_mac
from .lan import commands as lan
from .resources import default_inventory
from .service import Seedbed, Settings
from .tokens import new_token, token_hash
from .views import node_summaries

PREVIEW_TOKEN = "PREVIEW-TOKEN"  # noqa: S105 - stands in for the per-install token in previews
RENDER_KINDS = ("ipxe", "grub", "user-data", "meta-data", "vendor-data", "cloud-config",
                "provision", cluster_cli.RENDER_KIND)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args) or 0)
    except InventoryError as exc:
        print(exc, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="seedbed", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, run, help_text: str) -> argparse.ArgumentParser:  # noqa: ANN001
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(run=run)
        return p

    def with_inventory(p: argparse.ArgumentParser) -> None:
        p.add_argument("--inventory", type=Path,
                       default=Path(os.environ.get("SEEDBED_INVENTORY") or default_inventory()),
                       help="inventory YAML (default: $SEEDBED_INVENTORY or the example lab)")

    def with_state(p: argparse.ArgumentParser) -> None:
        with_inventory(p)
        p.add_argument("--state", type=Path, default=Path(os.environ.get("SEEDBED_STATE", "state")),
                       help="state folder holding the SQLite store (default: $SEEDBED_STATE or ./state)")

    p = command("serve", _serve, "run the provisioning service (waitress WSGI server)")
    with_state(p)
    p.add_argument("--files", type=Path, help="boot artifacts folder (default: STATE/files)")
    p.add_argument("--host", default="0.0.0.0")  # noqa: S104 - machines on the LAN must reach it
    p.add_argument("--port", type=int, default=8080)
    p.add_argument("--grub-port", type=int,
                   help="also listen here for GRUB netboot clients: GRUB before 2.12 always "
                        "connects to port 80, so give 80 when nodes boot through GRUB")
    p.add_argument("--dnsmasq", action="store_true",
                   help="also run dnsmasq (proxy or full DHCP, TFTP, DNS per the inventory)")
    httpserver.add_arguments(p)

    p = command("validate", _validate, "check an inventory and list every problem")
    p.add_argument("file", type=Path)

    p = command("render", _render, "print what a machine would receive (no state is changed)")
    with_state(p)
    p.add_argument("kind", choices=RENDER_KINDS + lan.RENDER_KINDS)
    p.add_argument("--show-secrets", action="store_true",
                   help="sssd: include the LDAP bind password instead of masking it")
    p.add_argument("--mac", help="the machine's MAC (not needed for provision --image)")
    p.add_argument("--image", action="store_true",
                   help="provision: the golden image's steps (no host identity, every driver); "
                        "user-data/meta-data: the golden image build's autoinstall seed")
    p.add_argument("--build-key", type=Path,
                   help="user-data --image: public key of the image build's throwaway user")
    p.add_argument("--ready", action="store_true",
                   help="cluster-yml: only the nodes ready and healthy now (what a run would use)")

    p = command("nodes", _nodes, "list the nodes: hostname, MAC, state, last event, since")
    with_state(p)

    p = command("events", _events, "show a node's events")
    with_state(p)
    p.add_argument("hostname")
    p.add_argument("--limit", type=int, default=50)

    p = command("reinstall", _reinstall, "arm a node so its next PXE boot reinstalls it")
    with_state(p)
    p.add_argument("hostname")
    p.add_argument("--minutes", type=int, help="how long it stays armed (default: the site's window)")

    p = command("token", _token, "create an admin API bearer token (shown once, stored hashed)")
    with_state(p)
    p.add_argument("action", choices=["create"])
    p.add_argument("--label", default="admin")

    cluster_cli.add_parser(sub, with_state, lambda args: cluster_cli.run(_seedbed(args), args))
    return parser


def _seedbed(args: argparse.Namespace) -> Seedbed:
    return Seedbed(Settings(inventory_path=args.inventory, state_dir=args.state,
                            files_dir=getattr(args, "files", None),
                            cluster=ClusterOptions.from_env(os.environ)))


def _serve(args: argparse.Namespace) -> int:
    from .web import create_app

    logging.getLogger().setLevel(logging.INFO)
    limits = httpserver.limits_from_args(args)
    service = _seedbed(args)
    service.start()
    app = create_app(service)
    ports = [args.port] + ([args.grub_port] if args.grub_port and args.grub_port != args.port else [])
    listen = " ".join(f"{args.host}:{port}" for port in ports)
    app.config["MAX_CONTENT_LENGTH"] = limits.max_body_bytes
    print(f"seedbed: {len(service.inventory.nodes)} nodes from {args.inventory}, state in "
          f"{args.state}, listening on {listen}", file=sys.stderr, flush=True)
    with lan.dnsmasq_running(args.dnsmasq, service):
        httpserver.serve(app, args.host, ports, limits)
    return 0


def _validate(args: argparse.Namespace) -> int:
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


def seed_problems(inv: Inventory) -> list[str]:
    """Render every node's installer seed and check it, as the installer would."""
    problems = []
    for node in inv.nodes:
        if install_method(node, install_profile(inv, node)) != "autoinstall":
            continue
        text = seeds.user_data(inv, node, seeds.SeedUrls(inv.site.base_url, PREVIEW_TOKEN),
                               "autoinstall")
        problems += [f"{node.hostname} user-data: {p}" for p in autoinstall_problems(text)]
    return problems


def _render(args: argparse.Namespace) -> int:
    service = _seedbed(args)
    inv = service.inventory
    if args.kind == "provision" and args.image:
        sys.stdout.write(seeds.provision_script(inv, None))
        return 0
    if args.image and args.kind in ("user-data", "meta-data"):
        return _render_image_seed(inv, args.kind, args.build_key)
    if args.kind in lan.RENDER_KINDS:
        try:
            sys.stdout.write(lan.render(args.kind, service, args.show_secrets))
        except ValueError as exc:
            print(f"seedbed render {args.kind}: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.kind == cluster_cli.RENDER_KIND:
        return _render_cluster_yml(service, args.ready)
    if not args.mac:
        print("seedbed render: --mac is required", file=sys.stderr)
        return 2
    mac = normalize_mac(args.mac)
    loader = "grub" if args.kind == "grub" else "ipxe"
    decision = decide_now(inv, service.lifecycle, NetbootRequest(mac, loader=loader))
    if decision.action == "refuse":
        print(f"seedbed render {args.kind}: {decision.reason}", file=sys.stderr)
        return 1
    if args.kind in ("ipxe", "grub"):
        if decision.action == "install":
            decision = with_seed(inv, decision, None, PREVIEW_TOKEN, mac)
        text = (render.ipxe_script(decision) if args.kind == "ipxe"
                else render.grub_config(decision, inv.site.base_url))
        sys.stdout.write(text)
        return 0
    node = inv.node_by_mac(mac)
    if node is None:
        print(f"seedbed render: {mac} is not in the inventory: it gets no seed", file=sys.stderr)
        return 1
    urls = seeds.SeedUrls(inv.site.base_url, PREVIEW_TOKEN)
    if args.kind == "user-data":
        method = install_method(node, install_profile(inv, node))
        text = seeds.user_data(inv, node, urls, method, service.service_key())
    elif args.kind == "cloud-config":
        text = seeds.cloud_config(seeds.first_boot_config(inv, node, urls, service.service_key()))
    elif args.kind == "meta-data":
        text = seeds.to_yaml(seeds.meta_data(inv, node, 0))
    elif args.kind == "vendor-data":
        text = seeds.vendor_data()
    else:
        text = seeds.provision_script(inv, node)
    sys.stdout.write(text)
    return 0


def _render_cluster_yml(service: Seedbed, ready_only: bool) -> int:
    try:
        text, warnings = cluster_cli.render_cluster_yml(service, ready_only)
    except cluster_cli.ClusterYmlError as exc:
        print(f"seedbed render cluster-yml: {exc}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(text)
    return 0


def _render_image_seed(inv: Inventory, kind: str, build_key: Path | None) -> int:
    """The seed `make image` serves to the Ubuntu installer (seedbed.deploy.golden)."""
    from .deploy import golden

    if kind == "meta-data":
        sys.stdout.write(golden.image_meta_data())
        return 0
    if build_key is None:
        print("seedbed render user-data --image: --build-key PUBLIC_KEY_FILE is required",
              file=sys.stderr)
        return 2
    sys.stdout.write(golden.image_user_data(inv, build_key.read_text().strip()))
    return 0


def _ago(at: float | None) -> str:
    if at is None:
        return "-"
    seconds = max(0, int(time.time() - at))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
                     for row in rows)


def _nodes(args: argparse.Namespace) -> int:
    service = _seedbed(args)
    rows = [["HOSTNAME", "MAC", "STATE", "LAST EVENT", "SINCE"]]
    for s in node_summaries(service.inventory, service.lifecycle):
        state = s["state"] + (" (armed)" if s["armed"] and s["state"] != "new" else "")
        if s["state"] == "new" and not s["armed"]:
            state += " (window closed: seedbed reinstall)"
        last = (s["last_event"] or "-")[:60]
        rows.append([s["hostname"], s["macs"][0], state, last, _ago(s["since"])])
        rows.extend(["", "", "", f"  ! {reason}", ""] for reason in s["health"])
    print(_table(rows))
    return 0


def _events(args: argparse.Namespace) -> int:
    service = _seedbed(args)
    if service.inventory.node_by_hostname(args.hostname) is None:
        print(f"seedbed: no node {args.hostname!r} in the inventory", file=sys.stderr)
        return 1
    for event in service.store.events(args.hostname, limit=args.limit):
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.at))
        print(f"{stamp}  {event.kind:<10} {event.message}")
    return 0


def _reinstall(args: argparse.Namespace) -> int:
    service = _seedbed(args)
    inv = service.inventory
    if inv.node_by_hostname(args.hostname) is None:
        print(f"seedbed: no node {args.hostname!r} in the inventory", file=sys.stderr)
        return 1
    minutes = args.minutes or inv.site.reinstall_window_minutes
    row = service.lifecycle.rearm(args.hostname, minutes * 60, who="cli")
    until = time.strftime("%Y-%m-%d %H:%M", time.localtime(row.armed_until or 0))
    print(f"{args.hostname}: armed for reinstall until {until}; its next PXE boot installs it")
    return 0


def _token(args: argparse.Namespace) -> int:
    service = _seedbed(args)
    token = new_token()
    service.store.add_admin_token(token_hash(token), args.label)
    print(token)
    print("seedbed: keep this token; only its hash is stored", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
