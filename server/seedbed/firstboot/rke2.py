"""RKE2's install at first boot (cluster.engine: rke2): config.yaml, then fetch, verify, install
and start from seedbed's artifact mirror; the checks of containerd that replace Docker's.

The steps are cluster.rke2.rke2_first_boot's data (argv lists), written as one script of
quoted words (cloud-init/files/seedbed-rke2-install.sh is its fixed part). RKE nodes get
nothing from here.
"""

from __future__ import annotations

import posixpath
import shlex
from typing import TYPE_CHECKING, Any

from ..cluster.rke2 import rke2_first_boot
from ..inventory import Inventory, Node
from .base import Target, file_text

if TYPE_CHECKING:
    from ..health import Facts

INSTALL_SCRIPT = "/usr/local/lib/seedbed/rke2-install.sh"
# Where the script leaves the failed step's reason; the ready report sends it.
FAILED_FILE = "/var/lib/seedbed/rke2-install.failed"
# rke2's embedded containerd: its socket, and the config.toml rke2 writes (with an `nvidia`
# runtime when it finds the NVIDIA container runtime on the node).
CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock"
CONTAINERD_CONFIG = "/var/lib/rancher/rke2/agent/etc/containerd/config.toml"
# In previews (and checks) that are no member's seed: `seedbed render ... --show-secrets` shows it.
HIDDEN_TOKEN = "<the cluster token: render with --show-secrets>"  # noqa: S105 - a placeholder
FETCH = ["curl", "-fsS", "--retry", "5", "--retry-connrefused", "--max-time", "1800"]


def uses_rke2(inv: Inventory) -> bool:
    return inv.cluster.engine == "rke2"


def steps(plan: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(what, argv) in order, run in the artifact folder: fetch, verify, place, install, start."""
    found = [(f"fetch {name}", [*FETCH, "--output", name, url])
             for name, url in plan["artifacts"].items()]
    found += [(f"verify {argv[-1]}", argv) for argv in plan["verify"]]
    found += [(f"place {argv[-2].rsplit('/', 1)[-1]}", argv) for argv in plan["place"]]
    return [*found, ("install", plan["install"]), ("start", plan["start"])]


def install_script(plan: dict[str, Any], failed_file: str = FAILED_FILE) -> str:
    lines = [f"FAILED={shlex.quote(failed_file)}", 'rm -f "$FAILED"',
             # The reason's folder first: a failing mkdir of the artifacts must be reported too.
             shlex.join(["mkdir", "-p", posixpath.dirname(failed_file)]),
             shlex.join(["step", "make the artifact folder", "mkdir", "-p", plan["artifact_path"]]),
             shlex.join(["cd", plan["artifact_path"]]) + " || exit 1"]
    lines += [shlex.join(["step", what, *argv]) for what, argv in steps(plan)]
    return file_text("files/seedbed-rke2-install.sh") + "\n".join(lines) + "\n"


def config(target: Target) -> dict[str, Any]:
    if not uses_rke2(target.inv):
        return {}
    token = HIDDEN_TOKEN if target.cluster_token is None else target.cluster_token
    plan = rke2_first_boot(target.inv, target.node, token)
    files = [{"path": f["path"], "permissions": f["mode"], "owner": f["owner"],
              "content": f["content"]} for f in plan["files"]]
    files.append({"path": INSTALL_SCRIPT, "permissions": "0700", "content": install_script(plan)})
    return {"write_files": files, "runcmd": [["sh", INSTALL_SCRIPT]]}


def ready_settings(target: Target) -> dict[str, Any]:
    """What the ready report reads for this engine (ready.json); nothing for RKE nodes."""
    if not uses_rke2(target.inv):
        return {}
    return {"rke2": {"failed_file": FAILED_FILE, "containerd_socket": CONTAINERD_SOCKET,
                     "containerd_config": CONTAINERD_CONFIG}}


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    if not uses_rke2(inv):
        return []
    reported = facts.rke2
    if reported.install_failed:
        return [f"RKE2 install failed at {reported.install_failed.strip()}"]
    if not reported.containerd_running:
        return [f"containerd is not running (no socket {CONTAINERD_SOCKET})"]
    if node.gpus and "nvidia" not in reported.containerd_runtimes:
        seen = ", ".join(reported.containerd_runtimes) or "none"
        return [f"containerd has no 'nvidia' runtime ({seen}), GPU nodes need it"]
    return []
