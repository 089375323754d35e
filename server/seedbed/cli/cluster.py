"""The cluster parts of the `seedbed` command: `cluster status|up|preflight|password|log`,
`render cluster-yml`, `render rke2-config`."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from ..cluster import clusteryml, rke2config, rke2token
from ..cluster.clusteryml import ClusterYmlError
from ..firstboot.rke2 import HIDDEN_TOKEN
from ..inventory import Node
from ..service import Seedbed
from ..web.models import SQLITE_MAX_INT
from .common import Commands, open_seedbed, whole_number, with_state

RENDER_KIND = "cluster-yml"
RKE2_RENDER_KIND = "rke2-config"
RENDER_KINDS = (RENDER_KIND, RKE2_RENDER_KIND)
MASKED_TOKEN = HIDDEN_TOKEN
ACTIONS = ("status", "up", "preflight", "password", "log")
LOOKING = ("status", "log")  # they change nothing: the state folder is opened read-only


def add_commands(commands: Commands) -> None:
    help_text = ("the Kubernetes cluster: status (engine, members, last job), up (run rke up, or "
                 "wait for the RKE2 members, and the add-ons now, here), preflight (check tools, "
                 "pins, DNS, NFS, SSH before rke up), "
                 "password (Rancher's bootstrap password), log [JOB]")
    p = commands.command(
        "cluster", lambda args: run(open_seedbed(args, read_only=args.action in LOOKING), args),
        help_text)
    with_state(p)
    p.add_argument("action", choices=ACTIONS)
    p.add_argument("job", nargs="?", type=whole_number(1, SQLITE_MAX_INT),
                   help="log: the job (default: the last)")
    p.add_argument("--json", action="store_true", help="status: print JSON")


def run(service: Seedbed, args: argparse.Namespace) -> int:
    cluster = service.cluster
    if args.action == "status":
        status = cluster.status()
        print(json.dumps(status, indent=2) if args.json else status_text(status))
        return 0
    if args.action == "preflight":
        return preflight(service)
    if args.action == "password":
        password = cluster.rancher_password()
        if password is None:
            print("seedbed: Rancher is disabled in the inventory", file=sys.stderr)
            return 1
        print(password)
        return 0
    if args.action == "log":
        job = cluster.jobs.job(args.job) if args.job else next(iter(cluster.jobs.recent(1)), None)
        if job is None:
            print("seedbed: no such cluster job", file=sys.stderr)
            return 1
        sys.stdout.write(job.log)
        return 0
    try:
        job = cluster.run_foreground("cli", lambda text: print(text, end="", flush=True))
    except RuntimeError as exc:
        print(f"seedbed: {exc}", file=sys.stderr)
        return 1
    print(f"\ncluster job #{job.id} {job.state}: {job.outcome}")
    return 0 if job.state == "succeeded" else 1


def preflight(service: Seedbed) -> int:
    """Print every check's verdict as it comes; exit 1 if any failed."""
    verdicts = service.cluster.preflight(lambda line: print(line, flush=True))
    counts = {label: sum(v.ok is value for v in verdicts)
              for label, value in (("ok", True), ("failed", False), ("skipped", None))}
    print(f"\npreflight: {len(verdicts)} checks, "
          + ", ".join(f"{n} {label}" for label, n in counts.items()))
    return 1 if counts["failed"] else 0


def print_rke2_config(service: Seedbed, mac: str, show_secrets: bool) -> int:
    """The config.yaml a node's first boot writes for RKE2; the token masked unless asked."""
    inv = service.inventory
    node = inv.node_by_mac(mac)
    if node is None:
        print(f"seedbed render {RKE2_RENDER_KIND}: {mac} is not in the inventory",
              file=sys.stderr)
        return 1
    token = shown_token(service, node, show_secrets)
    sys.stdout.write(rke2config.to_text(rke2config.node_config(inv, node, token)))
    return 0


def shown_token(service: Seedbed, node: Node, show_secrets: bool) -> str:
    """The cluster token as a preview shows it: masked unless asked; render changes no state."""
    paths = service.cluster.paths
    if not show_secrets:
        return MASKED_TOKEN
    if not paths.rke2_token.exists():
        return "<not generated yet: seedbed serve makes it at start>"  # noqa: S105
    return rke2token.token_for(paths, service.cluster.is_first_server(node))


def print_cluster_yml(service: Seedbed, ready_only: bool) -> int:
    if service.inventory.cluster.engine != "rke":
        print(f"seedbed render {RENDER_KIND}: cluster.engine is {service.inventory.cluster.engine}"
              f", which has no cluster.yml: see `seedbed render {RKE2_RENDER_KIND} --mac MAC`",
              file=sys.stderr)
        return 1
    try:
        text, warnings = render_cluster_yml(service, ready_only)
    except ClusterYmlError as exc:
        print(f"seedbed render cluster-yml: {exc}", file=sys.stderr)
        return 1
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    sys.stdout.write(text)
    return 0


def render_cluster_yml(service: Seedbed, ready_only: bool) -> tuple[str, list[str]]:
    """cluster.yml for every inventory node (or only the ready, healthy ones) and its warnings."""
    inv = service.inventory
    if ready_only:
        plan = service.cluster.plan(inv)
        if plan.document is None:
            raise ClusterYmlError(["not every controlplane and etcd node is ready and healthy: "
                                   + ", ".join(plan.membership.waiting)])
        return plan.text, plan.warnings
    document = clusteryml.build(inv, inv.nodes, service.cluster.key_path)
    _, warnings = clusteryml.check(document)
    return clusteryml.to_text(document), warnings


def status_text(status: dict[str, Any]) -> str:
    lines = [f"engine: {status['engine']} (waits for {status['engine_waits_for']})"]
    if status["problem"]:
        lines.append(f"cluster.yml cannot be written: {status['problem']}")
    elif status["ready"]:
        lines.append("controlplane and etcd nodes: all ready and healthy")
    else:
        lines.append("waiting for: " + (", ".join(status["waiting_for"]) or "ready nodes"))
    members = status["members"]
    names = ", ".join(f"{m['hostname']} ({'/'.join(m['roles'])})" for m in members)
    since = f" (since job #{status['members_since_job']})" if members else ""
    lines.append(f"in the cluster{since}: {names or 'no nodes yet'}")
    for left in status["left_out"]:
        lines.append(f"  left out: {left}")
    lines.append(f"kubernetes: {status['kubernetes_version']}")
    lines.append(f"kubeconfig: {status['kubeconfig'] or 'none yet'}"
                 + (f" (copied to {status['kubeconfig_copy']})" if status["kubeconfig_copy"] else ""))
    if status["engine"] == "rke2":
        lines.append(f"rke2 token: {status['rke2_token']}; kubeconfig backups: "
                     f"{len(status['kubeconfig_backups'])}")
    else:
        lines.append(f"cluster.rkestate backups: {len(status['rkestate_backups'])}")
    if status["rancher"]:
        lines.append(f"rancher: {status['rancher']['url']} (bootstrap password: "
                     f"{status['rancher']['bootstrap_password']}; `seedbed cluster password`)")
    if status["jobs"]:
        lines.append("")
        lines.append("JOB   STATE        TRY  STARTED              OUTCOME")
        for job in status["jobs"]:
            started = _when(job["started_at"] or job["created_at"])
            lines.append(f"#{job['id']:<4} {job['state']:<12} {job['attempt']:<4} {started:<20} "
                         f"{job['outcome'] or job['reason']}")
    return "\n".join(lines)


def _when(at: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at)) if at else "-"
