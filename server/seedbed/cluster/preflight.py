"""Preflight: what can be known before touching the nodes, each check a one-line verdict and its fix.

`seedbed cluster preflight` runs every check; every cluster job runs them first
(its first recorded stage) and stops at the first failure, so `rke up` never
starts on a setup known to fail. The checks run in the order of CHECKS.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..inventory import Inventory, Node
from . import addons, clusteryml, data, dnsquery, nfsprobe, sshprobe
from .state import ClusterPaths
from .tools import INSTALL_HINTS, ToolMissing, find_tool

COMMAND_TIMEOUT = 120.0  # one rke/helm call; helm fetches a repository index
NETWORK_TIMEOUT = 3.0  # one DNS query, one TCP connect
SSH_TIMEOUT = 10.0
MOUNT_TIMEOUT = 30.0


@dataclass(frozen=True)
class Verdict:
    check: str
    ok: bool | None  # None: not checked, with why
    text: str
    fix: str = ""

    def line(self) -> str:
        mark = {True: "ok  ", False: "FAIL", None: "skip"}[self.ok]
        fix = f" -- fix: {self.fix}" if self.ok is False and self.fix else ""
        return f"{mark} {self.check}: {self.text}{fix}"


@dataclass
class Preflight:
    """What the checks look at: the inventory, seedbed's folders and tools, the nodes to reach."""

    inv: Inventory
    paths: ClusterPaths
    env: dict[str, str]
    key_path: Path
    nodes: Sequence[Node]  # reached over SSH (ready ones: a node being installed has no sshd yet)
    not_reached: Sequence[str] = ()  # the other nodes, with why
    echo: Callable[[str], None] = lambda line: None
    verdicts: list[Verdict] = field(default_factory=list)

    def tool(self, name: str) -> str:
        return find_tool(name, self.inv.cluster.tools, self.env.get("PATH"))

    def command(self, argv: list[str]) -> tuple[int | None, str]:
        """(exit status or None on time-out, stdout and stderr) of a bounded command."""
        try:
            done = subprocess.run(argv, env=self.env, cwd=self.paths.work, capture_output=True,
                                  text=True, errors="replace", timeout=COMMAND_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return None, f"did not finish within {COMMAND_TIMEOUT:.0f}s"
        return done.returncode, done.stdout + done.stderr


Check = Callable[[Preflight], list[Verdict]]


def run(pf: Preflight, *, skip: Sequence[str] = (), stop_at_failure: bool = False) -> list[Verdict]:
    """Run the checks in order, echoing each verdict as it comes; return them all."""
    known_checks(skip)
    for name, check in CHECKS.items():
        found = ([Verdict(name, None, "skipped (SEEDBED_CLUSTER_PREFLIGHT_SKIP)")]
                 if name in skip else check(pf))
        for verdict in found:
            pf.verdicts.append(verdict)
            pf.echo(verdict.line())
        if stop_at_failure and any(v.ok is False for v in found):
            break
    return pf.verdicts


def known_checks(names: Sequence[str]) -> None:
    """Raise ValueError naming any check that does not exist (a typo would skip nothing)."""
    unknown = set(names) - set(CHECKS)
    if unknown:
        raise ValueError(f"unknown preflight checks {sorted(unknown)}: known are {', '.join(CHECKS)}")


def _missing(name: str, exc: ToolMissing) -> Verdict:
    return Verdict(name, False, f"{exc.name} not found ({exc.detail})", INSTALL_HINTS[exc.name])


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else "no output"


# -- rke ----------------------------------------------------------------------------------

def check_rke(pf: Preflight) -> list[Verdict]:
    """The installed rke is the pinned series (same minor, not older) and knows our Kubernetes."""
    if pf.inv.cluster.engine != "rke":
        return [Verdict("rke", None, f"not used: cluster.engine is {pf.inv.cluster.engine}")]
    try:
        rke = pf.tool("rke")
    except ToolMissing as exc:
        return [_missing("rke", exc)]
    pin = str(data.versions()["rke_version"])
    code, out = pf.command([rke, "--version"])
    found = _semver(out) if code == 0 else None
    if found is None:
        return [Verdict("rke", False, f"`rke --version` gave no version ({_last_line(out)})",
                        INSTALL_HINTS["rke"])]
    wanted = _semver(pin)
    assert wanted is not None
    if found[:2] != wanted[:2] or found < wanted:
        verdicts = [Verdict("rke", False, f"{rke} is v{'.'.join(map(str, found))}; seedbed is "
                            f"pinned to {pin} (same minor, that patch or newer)",
                            f"install rke {pin} or a newer v{wanted[0]}.{wanted[1]}.x "
                            "from https://github.com/rancher/rke/releases")]
    else:
        verdicts = [Verdict("rke", True, f"{rke} is v{'.'.join(map(str, found))} (pin {pin})")]
    k8s = clusteryml.kubernetes_version(pf.inv)
    code, out = pf.command([rke, "config", "--list-version", "--all"])
    listed = [v for v in out.split() if re.fullmatch(r"v\d+\.\d+\.\d+\S*", v)] if code == 0 else []
    if code != 0:
        verdicts.append(Verdict("kubernetes", False, "`rke config --list-version --all` failed: "
                                f"{_last_line(out)}", "run it by hand to see why"))
    elif k8s not in listed:
        same = ", ".join(v for v in listed if data.minor(v) == data.minor(k8s)) or "none of that minor"
        verdicts.append(Verdict(
            "kubernetes", False, f"this rke does not know {k8s}",
            f"set cluster.kubernetes_version to one it lists ({same}) or install an "
            f"rke v{wanted[0]}.{wanted[1]}.x that lists {k8s}"))
    else:
        verdicts.append(Verdict("kubernetes", True, f"{k8s} is among the {len(listed)} versions "
                                "this rke lists"))
    return verdicts


def _semver(text: str) -> tuple[int, int, int] | None:
    found = re.search(r"v?(\d+)\.(\d+)\.(\d+)", text)
    return (int(found[1]), int(found[2]), int(found[3])) if found else None


# -- network plugin ---------------------------------------------------------------------------

def check_network_plugin(pf: Preflight) -> list[Verdict]:
    plugin, k8s = pf.inv.cluster.network_plugin, clusteryml.kubernetes_version(pf.inv)
    engine = pf.inv.cluster.engine
    problem = data.network_plugin_problem(plugin, k8s, engine)
    if problem is not None:
        return [Verdict("network plugin", False, problem, "change cluster.network_plugin")]
    return [Verdict("network plugin", True, f"{engine} supports {plugin} with {k8s}")]


# -- charts -------------------------------------------------------------------------------------

def check_charts(pf: Preflight) -> list[Verdict]:
    """Every chart this inventory installs exists at its pinned version in its repository."""
    releases = addons.plan(pf.inv, pf.inv.nodes)
    if not releases:
        return [Verdict("charts", None, "this inventory installs no add-on")]
    try:
        helm = pf.tool("helm")
    except ToolMissing as exc:
        return [_missing("charts", exc)]
    pins = {c["release"]: c for c in data.versions()["charts"]}
    added = {rel.release: _add(pf, helm, f"seedbed-{rel.release}", rel.repo) for rel in releases}
    names = [f"seedbed-{name}" for name, problem in added.items() if problem is None]
    updated = _update(pf, helm, names) if names else None  # one index fetch round for all
    return [_chart(pf, helm, rel, added[rel.release] or updated,
                   pins[rel.release].get("channels", [])) for rel in releases]


def _chart(pf: Preflight, helm: str, rel: addons.Release, problem: str | None,
           channels: list[str]) -> Verdict:
    check = f"chart {rel.release}"
    versions = problem or _search(pf, helm, f"seedbed-{rel.release}", rel.chart)
    if isinstance(versions, str):
        return Verdict(check, False, f"{rel.repo}: {versions}",
                       "check that seedbed's host reaches the repository (proxy, DNS)")
    if _same(rel.version, versions):
        return Verdict(check, True, f"{rel.chart} {rel.version} is in {rel.repo}")
    for i, channel in enumerate(channels, 1):
        name = f"seedbed-{rel.release}-{i}"
        there = _add(pf, helm, name, channel) or _update(pf, helm, [name]) or \
            _search(pf, helm, name, rel.chart)
        if isinstance(there, list) and _same(rel.version, there):
            return Verdict(check, False, f"{rel.chart} {rel.version} is not in {rel.repo}; "
                           f"{channel} has it", f"set its repo to {channel} in rke/versions.yaml")
    series = rel.version.lstrip("v").split(".")[:2]
    near = [v for v in versions if v.lstrip("v").split(".")[:2] == series]
    return Verdict(check, False, f"{rel.chart} {rel.version} is in neither {rel.repo} nor "
                   f"{', '.join(channels) or 'another channel'}",
                   f"pin a version the repository has ({', '.join(near[:3]) or 'none of that minor'})")


def _same(version: str, versions: list[str]) -> bool:
    return version.lstrip("v") in {v.lstrip("v") for v in versions}


def _add(pf: Preflight, helm: str, name: str, url: str) -> str | None:
    code, out = pf.command([helm, "repo", "add", name, url, "--force-update"])
    return None if code == 0 else f"`helm repo add` failed: {_last_line(out)}"


def _update(pf: Preflight, helm: str, names: list[str]) -> str | None:
    code, out = pf.command([helm, "repo", "update", *names])
    return None if code == 0 else f"`helm repo update` failed: {_last_line(out)}"


def _search(pf: Preflight, helm: str, name: str, chart: str) -> list[str] | str:
    """The chart's versions in an added repository (newest first), or why they could not be read."""
    code, out = pf.command([helm, "search", "repo", f"{name}/{chart}", "--versions",
                            "--output", "json"])
    if code != 0:
        return f"`helm search repo` failed: {_last_line(out)}"
    try:
        found = json.loads(out)
    except ValueError:
        return f"`helm search repo` printed no JSON: {_last_line(out)}"
    return [str(e["version"]) for e in found if e.get("name") == f"{name}/{chart}"]


# -- DNS ----------------------------------------------------------------------------------------

def check_dns(pf: Preflight) -> list[Verdict]:
    """Rancher's name resolves through every site DNS server to a node or load-balancer address."""
    if not pf.inv.cluster.rancher.enabled:
        return [Verdict("dns", None, "Rancher is disabled: no name to resolve")]
    name = addons.rancher_hostname(pf.inv)
    owners = {str(n.ip): f"node {n.hostname}" for n in pf.inv.nodes}
    pool = pf.inv.cluster.load_balancer_range()
    targets = "a worker node's address" + (f" or one of {pf.inv.cluster.load_balancer}" if pool else "")
    fix = f"add an A record {name} -> {targets} on the site's DNS server"
    verdicts = []
    for server in map(str, pf.inv.site.dns):
        try:
            answer = dnsquery.query_a(server, name, timeout=NETWORK_TIMEOUT)
        except OSError as exc:
            verdicts.append(Verdict("dns", False, f"{server} did not answer for {name} "
                                    f"({exc.strerror or 'timed out'})",
                                    "check site.dns: the nodes and Rancher's agents ask it"))
            continue
        if not answer.addresses:
            verdicts.append(Verdict("dns", False, f"{server} has no address for {name} "
                                    f"({answer.rcode})", fix))
            continue
        for address in answer.addresses:
            if address not in owners and pool and pool[0] <= ipaddress.IPv4Address(address) <= pool[1]:
                owners[address] = "load balancer"
        stray = [a for a in answer.addresses if a not in owners]
        if stray:
            verdicts.append(Verdict("dns", False, f"{server} resolves {name} to {', '.join(stray)}: "
                                    "not a node or load-balancer address", fix))
        else:
            shown = ", ".join(f"{a} ({owners[a]})" for a in answer.addresses)
            verdicts.append(Verdict("dns", True, f"{server} resolves {name} to {shown}"))
    return verdicts


# -- NFS ----------------------------------------------------------------------------------------

NFS_FIX = ("on the NAS, turn NFS on with NFSv4.1 allowed (Synology: Control Panel > File Services "
           "> NFS > maximum protocol NFSv4.1) and give the node subnet a permission rule on "
           "the shared folder")


def check_nfs(pf: Preflight) -> list[Verdict]:
    """The export answers NFS with the provisioner's protocol version, and mounts with its options."""
    nfs = pf.inv.cluster.nfs
    if nfs is None:
        return [Verdict("nfs", None, "cluster.nfs is not set")]
    options = [str(o) for o in data.chart_values("nfs-subdir-external-provisioner")
               .get("nfs", {}).get("mountOptions", [])]
    major, minor = nfsprobe.minor_version(options)
    where = f"{nfs.server}:{nfsprobe.NFS_PORT}"
    try:
        if major == 4:
            problem = nfsprobe.probe(nfs.server, minor, timeout=NETWORK_TIMEOUT)
        else:
            with socket.create_connection((nfs.server, nfsprobe.NFS_PORT), timeout=NETWORK_TIMEOUT):
                problem = None
    except (OSError, nfsprobe.ProbeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or "timed out"
        return [Verdict("nfs", False, f"{where} does not answer NFS ({reason})", NFS_FIX)]
    if problem is not None:
        return [Verdict("nfs", False, f"{where}: {problem} (the provisioner mounts with "
                        f"{','.join(options)})", NFS_FIX + "; or change nfs.mountOptions in "
                        "rke/values/nfs-subdir-external-provisioner.yaml")]
    return [Verdict("nfs", True, f"{where} speaks NFSv{major}.{minor}"), _mount(nfs.server, nfs.path,
                                                                               options)]


def _mount(server: str, path: str, options: list[str]) -> Verdict:
    """Mount the export read-only with the provisioner's options (needs root and mount.nfs)."""
    if os.geteuid() != 0 or shutil.which("mount.nfs") is None:
        return Verdict("nfs mount", None, f"{server}:{path} not mounted here (needs root and "
                       "mount.nfs from nfs-common): the export path and its permission rule are "
                       "first tried by the provisioner")
    with tempfile.TemporaryDirectory(prefix="seedbed-nfs-") as target:
        argv = ["mount", "-t", "nfs", "-o", ",".join(["ro", "soft", "timeo=50", "retrans=1", *options]),
                f"{server}:{path}", target]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=MOUNT_TIMEOUT,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return Verdict("nfs mount", False, f"mounting {server}:{path} did not finish within "
                           f"{MOUNT_TIMEOUT:.0f}s", NFS_FIX)
        if done.returncode != 0:
            return Verdict("nfs mount", False, f"{server}:{path}: {_last_line(done.stderr)}",
                           NFS_FIX)
        subprocess.run(["umount", target], capture_output=True, timeout=MOUNT_TIMEOUT, check=False)
    return Verdict("nfs mount", True, f"{server}:{path} mounts with {','.join(options)}")


# -- SSH ----------------------------------------------------------------------------------------

def check_ssh(pf: Preflight) -> list[Verdict]:
    """The service key logs in as the admin user on every node, and Docker answers through it."""
    if pf.inv.cluster.engine != "rke":  # no Docker tunnel: a job reads the kubeconfig over SSH
        return [Verdict("ssh", None, f"not tried: cluster.engine is {pf.inv.cluster.engine} "
                        "(a job collects the first server's kubeconfig over SSH)")]
    user = pf.inv.admin.username
    verdicts = []
    if not pf.key_path.is_file():
        return [Verdict("ssh", False, f"no service key at {pf.key_path}",
                        "start `seedbed serve` once: it makes the key the seeds carry")]
    fix = (f"the node must have {pf.key_path}.pub in ~{user}/.ssh/authorized_keys (its seeds "
           f"put it there: reinstall), {user} in the docker group, Docker running, and "
           "AllowTcpForwarding/AllowStreamLocalForwarding yes in sshd_config")
    for node in pf.nodes:
        problem = sshprobe.docker_ping(str(node.ip), user, pf.key_path, timeout=SSH_TIMEOUT)
        if problem is None:
            verdicts.append(Verdict(f"ssh {node.hostname}", True, f"{user}@{node.ip} with the "
                                    f"service key; Docker answers at {sshprobe.DOCKER_SOCKET}"))
        else:
            verdicts.append(Verdict(f"ssh {node.hostname}", False, f"{user}@{node.ip}: {problem}",
                                    fix))
    if pf.not_reached:
        verdicts.append(Verdict("ssh", None, "not tried (not ready): " + ", ".join(pf.not_reached)))
    return verdicts


# -- backups ------------------------------------------------------------------------------------

def check_backups(pf: Preflight) -> list[Verdict]:
    """Where rke writes its state and seedbed keeps copies: writable now, not after rke up."""
    folders = [pf.paths.root, pf.paths.work, pf.paths.backups]
    if pf.inv.cluster.kubeconfig:
        folders.append(_existing(Path(pf.inv.cluster.kubeconfig).parent))
    failed = []
    for folder in folders:
        try:
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".seedbed-preflight-"):
                pass
        except OSError as exc:
            failed.append(f"{folder} ({exc.strerror})")
    if failed:
        return [Verdict("backups", False, "cannot write " + "; ".join(failed),
                        "make these folders writable by the user seedbed runs as")]
    return [Verdict("backups", True, "kubeconfig and cluster.rkestate folders are writable: "
                    + ", ".join(map(str, folders)))]


def _existing(folder: Path) -> Path:
    """The folder, or its nearest existing parent (the copy creates the rest)."""
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    return folder


CHECKS: dict[str, Check] = {
    "rke": check_rke,
    "network-plugin": check_network_plugin,
    "charts": check_charts,
    "dns": check_dns,
    "nfs": check_nfs,
    "ssh": check_ssh,
    "backups": check_backups,
}
