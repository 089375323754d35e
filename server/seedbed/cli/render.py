"""`seedbed render`: print what a machine (or the LAN, or the cluster) would receive."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .. import render, seeds
from ..boot import (
    NetbootRequest,
    decide_now,
    install_method,
    with_report_token,
    with_seed,
)
from ..checks import PREVIEW_TOKEN
from ..errors import Conflict, UsageError
from ..inventory import Inventory
from ..lan.signedboot import grub_fetch
from . import cluster, lan
from .common import Commands, mac_address, open_seedbed, with_state

NODE_KINDS = ("ipxe", "grub", "user-data", "meta-data", "vendor-data", "cloud-config", "provision")


def add_commands(commands: Commands) -> None:
    p = commands.command("render", render_command,
                         "print what a machine would receive (no state is changed; `zone` "
                         "keeps its serial in STATE/dns)")
    with_state(p)
    p.add_argument("kind", choices=NODE_KINDS + cluster.RENDER_KINDS + lan.RENDER_KINDS)
    p.add_argument("--show-secrets", action="store_true",
                   help="sssd: include the LDAP bind password instead of masking it; "
                        "rke2-config, user-data, cloud-config: the RKE2 cluster token")
    p.add_argument("--mac", type=mac_address, help="the machine's MAC (not needed for provision --image)")
    p.add_argument("--image", action="store_true",
                   help="provision: the golden image's steps (no host identity, every driver); "
                        "user-data/meta-data: the golden image build's autoinstall seed")
    p.add_argument("--build-key", type=Path,
                   help="user-data --image: public key of the image build's throwaway user")
    p.add_argument("--ready", action="store_true",
                   help="cluster-yml: only the nodes ready and healthy now (what a run would use)")


def render_command(args: argparse.Namespace) -> int:
    service = open_seedbed(args, read_only=True)
    inv = service.inventory
    if args.kind == "provision" and args.image:
        sys.stdout.write(seeds.provision_script(inv, None))
        return 0
    if args.image and args.kind in ("user-data", "meta-data"):
        return _image_seed(inv, args.kind, args.build_key)
    if args.kind in lan.RENDER_KINDS:
        try:
            sys.stdout.write(lan.render(args.kind, service, args.show_secrets))
        except ValueError as exc:
            print(f"seedbed render {args.kind}: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.kind == cluster.RENDER_KIND:
        return cluster.print_cluster_yml(service, args.ready)
    if not args.mac:
        raise UsageError("seedbed render: --mac is required")
    mac = args.mac
    if args.kind == cluster.RKE2_RENDER_KIND:
        return cluster.print_rke2_config(service, mac, args.show_secrets)
    loader = "grub" if args.kind == "grub" else "ipxe"
    decision = decide_now(inv, service.lifecycle, NetbootRequest(mac, loader=loader))
    if decision.action == "refuse":
        raise Conflict(f"seedbed render {args.kind}: {decision.reason}")
    if args.kind in ("ipxe", "grub"):
        if decision.action == "install":
            decision = with_seed(inv, decision, None, PREVIEW_TOKEN, mac)
        elif decision.action == "discover":
            decision = with_report_token(inv, decision, PREVIEW_TOKEN)
        text = (render.ipxe_script(decision) if args.kind == "ipxe"
                else render.grub_config(decision, inv.site.base_url, grub_fetch(inv, decision.node)))
        sys.stdout.write(text)
        return 0
    node = inv.node_by_mac(mac)
    if node is None:
        print(f"seedbed render: {mac} is not in the inventory: it gets no seed", file=sys.stderr)
        return 1
    urls = seeds.SeedUrls(inv.site.base_url, PREVIEW_TOKEN)
    token = (cluster.shown_token(service, node, args.show_secrets)
             if service.cluster_token_needed() else None)
    if args.kind == "cloud-config":
        text = seeds.cloud_config(seeds.first_boot_config(inv, node, urls, service.service_key(),
                                                          token))
    else:  # a seed file, as the web serves it to this node's next install
        text = seeds.seed_file("provision.sh" if args.kind == "provision" else args.kind, inv, node,
                               urls, method=install_method(inv, node),
                               install_id=0, service_key=service.service_key(),
                               cluster_token=token)
    sys.stdout.write(text)
    return 0


def _image_seed(inv: Inventory, kind: str, build_key: Path | None) -> int:
    """The seed `make image` serves to the Ubuntu installer (seedbed.deploy.golden)."""
    from ..deploy import golden

    if kind == "meta-data":
        sys.stdout.write(golden.image_meta_data())
        return 0
    if build_key is None:
        raise UsageError("seedbed render user-data --image: --build-key PUBLIC_KEY_FILE is required")
    sys.stdout.write(golden.image_user_data(inv, build_key.read_text().strip()))
    return 0
