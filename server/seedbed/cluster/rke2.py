"""RKE2, the second cluster engine: the nodes install and join by themselves at first boot.

Unlike `rke up`, seedbed drives nothing on the nodes: each node's first boot writes its
config.yaml (rke2config.py) and installs RKE2 from seedbed's artifact mirror (rke2_first_boot).
seedbed's part of convergence, once every server reported ready: collect the first server's
kubeconfig over SSH with the service key, wait until every member is Ready in
`kubectl get nodes`, then the same Helm add-ons as with RKE.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import yaml

from ..boot import artifact_url
from ..fsutil import atomic_write
from ..inventory import Inventory, Node
from . import data, rke2config, rke2token
from .context import JobContext
from .plan import Membership, Plan
from .proc import CommandFailed
from .sshprobe import ssh_argv
from .state import ClusterPaths, save_versioned

CONFIG_MODE = "0600"  # config.yaml holds the cluster token


class Rke2Engine:
    tools = ("ssh", "kubectl")

    def __init__(self, inv: Inventory, key_path: Path):
        self.inv = inv
        self.key_path = key_path

    def up(self, plan: Plan, ctx: JobContext, tools: dict[str, str],
           update_only: bool) -> list[Path]:
        """Collect the kubeconfig, wait for every member Ready, save; return the backups."""
        assert plan.document is not None
        first = next(n for n in plan.membership.nodes
                     if n.hostname == plan.document["first_server"])
        collect_kubeconfig(self.inv, first, ctx, tools["ssh"], self.key_path)
        wait_ready(ctx, tools["kubectl"], [m.hostname for m in plan.membership.members])
        if any(n.gpus for n in plan.membership.nodes):
            apply_runtimeclass(ctx, tools["kubectl"])
        ctx.stage("save cluster state")
        paths = ctx.paths
        return save_versioned(paths, ctx.job_id, ((paths.work_kubeconfig, paths.kubeconfig),
                                                  (paths.rke2_token, None)))


def collect_kubeconfig(inv: Inventory, first: Node, ctx: JobContext, ssh: str,
                       key_path: Path) -> None:
    """The first server's rke2.yaml, pointed at its address, into work/ (0600); note its CA."""
    stage = "collect kubeconfig"
    pins = data.rke2_versions()
    argv = ssh_argv(ssh, str(first.ip), inv.admin.username, key_path,
                    timeout=ctx.options.ssh_timeout, command=["cat", pins["kubeconfig_path"]])
    text = ctx.run(argv, stage, ctx.options.ssh_timeout + 30, log_output=False)
    config, digest = retarget_kubeconfig(text, rke2config.api_url(inv), stage)
    atomic_write(ctx.paths.work_kubeconfig, yaml.safe_dump(config, sort_keys=False).encode(),
                 0o600)
    rke2token.record_ca(ctx.paths, digest)
    ctx.note(f"kubeconfig of {first.hostname} collected; API {rke2config.api_url(inv)}; "
             f"server CA sha256 {digest}")


def retarget_kubeconfig(text: str, server: str, stage: str) -> tuple[dict[str, Any], str]:
    """rke2.yaml names https://127.0.0.1:6443: point it at the first server; return its CA hash."""
    try:
        config = yaml.safe_load(text)
        cluster = config["clusters"][0]["cluster"]
        digest = rke2token.ca_hash(cluster["certificate-authority-data"])
    except (yaml.YAMLError, KeyError, IndexError, TypeError, ValueError) as exc:
        raise CommandFailed(stage, f"the file read is not an rke2 kubeconfig ({exc!r})") from None
    cluster["server"] = server
    return config, digest


def ready_nodes(text: str) -> set[str]:
    """Names of the nodes whose Ready condition is True in `kubectl get nodes --output json`."""
    found = set()
    for item in json.loads(text).get("items", []):
        conditions = item.get("status", {}).get("conditions", [])
        if any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions):
            found.add(item["metadata"]["name"])
    return found


def wait_ready(ctx: JobContext, kubectl: str, names: Sequence[str]) -> None:
    """Until every member is Ready (the API may not answer at first), bounded by nodes_timeout."""
    stage = "wait for nodes Ready"
    timeout, poll = ctx.options.nodes_timeout, ctx.options.poll_seconds
    deadline = ctx.clock() + timeout
    while True:
        try:
            out = ctx.run([kubectl, "get", "nodes", "--output", "json"], stage, 60,
                          log_output=False)
            missing = sorted(set(names) - ready_nodes(out))
            problem = f"not Ready yet: {', '.join(missing)}"
        except CommandFailed as exc:
            missing, problem = list(names), f"the API does not answer ({exc.reason})"
        except (ValueError, KeyError, AttributeError) as exc:
            missing, problem = list(names), f"kubectl printed no node list ({exc!r})"
        if not missing:
            ctx.note(f"every member is Ready: {', '.join(names)}")
            return
        if ctx.clock() + poll > deadline:
            raise CommandFailed(stage, f"{problem} after {timeout:.0f}s")
        ctx.note(f"{problem}; looking again in {poll:g}s")
        ctx.sleep(poll)


def apply_runtimeclass(ctx: JobContext, kubectl: str) -> None:
    """containerd's `nvidia` runtime as a RuntimeClass, before the device plugin needs it."""
    manifest = ctx.paths.work / "nvidia-runtimeclass.yaml"
    atomic_write(manifest, yaml.safe_dump_all(data.rke2_nvidia_runtimeclass()).encode(), 0o600)
    ctx.run([kubectl, "apply", "--filename", manifest.name], "nvidia runtime class", 120)


def waits_for(inv: Inventory, membership: Membership | None, paths: ClusterPaths) -> str:
    """What an RKE2 cluster waits for now, in one line (`seedbed cluster status`)."""
    try:
        first = rke2config.first_server(inv).hostname
    except rke2config.Rke2ConfigError as exc:
        return str(exc)
    if membership is None or first not in {n.hostname for n in membership.nodes}:
        return (f"the ready callback of the first server {first} (it starts the cluster; "
                "the others join it on port 9345)")
    if not membership.complete:
        return "the ready callbacks of the other servers: " + ", ".join(membership.waiting)
    form = "K10 (CA pinned)" if paths.rke2_ca_hash.exists() else "plain until the CA is read"
    return (f"a job: kubeconfig from {first} over SSH, every member Ready in "
            f"`kubectl get nodes`, then the add-ons (join token: {form})")


def port_rules(plugin: str) -> list[dict[str, str]]:
    """RKE2's inbound port matrix for this CNI (rke/rke2/ports.yaml), shaped as rke/ports.yaml's
    entries (port, proto, why) so the node firewall takes either engine's list."""
    table = data.rke2_ports()
    return list(table["base"]) + list(table["cni"][plugin])


# -- the first boot's data -------------------------------------------------------------------

def artifact_names(inv: Inventory) -> list[str]:
    """The files a node fetches: install.sh, checksums, tarball, images (+ its CNI's images)."""
    pins = data.rke2_versions()
    names = list(pins["artifacts"].values())
    return names + list(pins["cni"][inv.cluster.network_plugin])


def artifact_urls(inv: Inventory) -> dict[str, str]:
    """Where seedbed's files folder serves each artifact (rke2/<version>/<name>)."""
    pins = data.rke2_versions()
    folder = f"{pins['artifact_folder']}/{quote(str(pins['rke2_version']), safe='')}"
    return {name: artifact_url(inv, f"{folder}/{name}") for name in artifact_names(inv)}


def rke2_first_boot(inv: Inventory, node: Node, token: str) -> dict[str, Any]:
    """What a cluster member's first boot does to install RKE2, as data (argv lists, no shell).

    Files to write, artifacts to fetch into `artifact_path`, checks to run there, then the
    install and start commands. rancher/rke2's install.sh verifies the tarball and images
    against sha256sum-amd64.txt itself; the checks below fail earlier, naming the file.
    """
    pins = data.rke2_versions()
    kind = "server" if rke2config.is_server(node) else "agent"
    path = str(pins["artifact_path"])
    names = pins["artifacts"]
    images_dir = "/var/lib/rancher/rke2/agent/images"
    extra = list(pins["cni"][inv.cluster.network_plugin])
    script_sum = f"{pins['install_script_sha256']}  {names['install_script']}\n"
    return {
        "type": kind,
        "files": [
            {"path": pins["config_path"], "mode": CONFIG_MODE, "owner": "root:root",
             "content": rke2config.to_text(rke2config.node_config(inv, node, token))},
            {"path": f"{path}/{names['install_script']}.sha256", "mode": "0644",
             "owner": "root:root", "content": script_sum},
        ],
        "artifact_path": path,
        "artifacts": artifact_urls(inv),
        "verify": [
            ["sha256sum", "--check", "--strict", f"{names['install_script']}.sha256"],
            ["sha256sum", "--check", "--strict", "--ignore-missing", names["checksums"]],
        ],
        "place": [["install", "-D", "-m", "0644", f"{path}/{name}", f"{images_dir}/{name}"]
                  for name in extra],
        "install": ["env", f"INSTALL_RKE2_ARTIFACT_PATH={path}", f"INSTALL_RKE2_TYPE={kind}",
                    "sh", f"{path}/{names['install_script']}"],
        "start": ["systemctl", "enable", "--now", f"rke2-{kind}.service"],
    }
