"""The Helm add-ons installed after every successful rke up, in order.

Each is `helm upgrade --install ... --wait` with the chart version pinned in
rke/versions.yaml and values from rke/values/<release>.yaml, overlaid with
what the inventory decides. Which charts a cluster gets is data: each chart's
`when:` names one of the questions in WHEN; a chart naming none (or another) is an
error, never silently skipped. Values reach helm in files (0600), so the Rancher
bootstrap password is never on a command line or in a log.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from ..fsutil import atomic_write
from ..inventory import Inventory, Node
from . import data
from .context import JobContext
from .proc import CommandFailed


@dataclass(frozen=True)
class Release:
    release: str
    chart: str
    repo: str
    version: str
    namespace: str
    values: dict[str, Any]
    needs_password: bool = False  # Rancher: bootstrapPassword is added when the file is written
    manifests: list[dict[str, Any]] = field(default_factory=list)  # applied after the webhook
    webhook_deployment: str | None = None

    def describe(self) -> dict[str, Any]:
        """Everything but secrets: goes into the plan's digest and the job record."""
        return {"release": self.release, "chart": self.chart, "version": self.version,
                "namespace": self.namespace, "values": self.values,
                "manifests": self.manifests}


class UnknownAddon(ValueError):
    """rke/versions.yaml names a condition or a chart this module does not know."""


Members = Sequence[Node]

# What a chart's `when:` may name: a question about the inventory and the cluster's nodes.
WHEN: dict[str, Callable[[Inventory, Members], bool]] = {
    "always": lambda inv, members: True,
    "load_balancer": lambda inv, members: inv.cluster.load_balancer is not None,
    "rancher": lambda inv, members: inv.cluster.rancher.enabled,
    "gpu_nodes": lambda inv, members: any(n.gpus for n in members),
    "nfs": lambda inv, members: inv.cluster.nfs is not None,
}


def plan(inv: Inventory, members: Members) -> list[Release]:
    """The releases for this inventory and these cluster nodes, in install order."""
    charts = data.versions()["charts"]
    check_charts(charts)
    return [_release(inv, members, chart) for chart in charts
            if WHEN[chart["when"]](inv, members)]


def check_charts(charts: list[dict[str, Any]]) -> None:
    releases = [chart.get("release") for chart in charts]
    for chart in charts:
        if chart.get("when") not in WHEN:
            raise UnknownAddon(f"rke/versions.yaml: chart {chart.get('release')!r} has when: "
                               f"{chart.get('when')!r}; use one of {', '.join(WHEN)}")
    for name in _OVERLAYS:
        if name not in releases:
            raise UnknownAddon(f"seedbed sets values for the chart {name!r}, which "
                               "rke/versions.yaml does not list")


def _release(inv: Inventory, members: Members, chart: dict[str, Any]) -> Release:
    name = chart["release"]
    values = data.chart_values(name)
    overlay = _OVERLAYS.get(name)
    extra = overlay(inv, members, values) if overlay else {}
    return Release(release=name, chart=chart["chart"], repo=chart["repo"],
                   version=str(chart["version"]), namespace=chart["namespace"], values=values,
                   **extra)


def _metallb(inv: Inventory, members: Members, values: dict[str, Any]) -> dict[str, Any]:
    return {"manifests": metallb_manifests(inv), "webhook_deployment": "metallb-controller"}


def _rancher(inv: Inventory, members: Members, values: dict[str, Any]) -> dict[str, Any]:
    workers = sum("worker" in n.roles for n in members)
    values["hostname"] = rancher_hostname(inv)
    values["replicas"] = max(1, min(inv.cluster.rancher.replicas, workers))
    return {"needs_password": True}


def _nfs(inv: Inventory, members: Members, values: dict[str, Any]) -> dict[str, Any]:
    assert inv.cluster.nfs is not None  # when: nfs
    values.setdefault("nfs", {}).update(server=inv.cluster.nfs.server, path=inv.cluster.nfs.path)
    return {}


# The inventory's part of a chart's values and install steps, by release; a chart without
# an entry is installed with rke/values/<release>.yaml as it is.
_OVERLAYS: dict[str, Callable[[Inventory, Members, dict[str, Any]], dict[str, Any]]] = {
    "metallb": _metallb,
    "rancher": _rancher,
    "nfs-subdir-external-provisioner": _nfs,
}


def rancher_hostname(inv: Inventory) -> str:
    """The name Rancher serves and its agents connect to."""
    return inv.cluster.rancher.hostname or f"rancher.{inv.site.domain}"


def metallb_manifests(inv: Inventory) -> list[dict[str, Any]]:
    docs = copy.deepcopy(data.metallb_pool())
    for doc in docs:
        if doc["kind"] == "IPAddressPool":
            doc["spec"]["addresses"] = [inv.cluster.load_balancer]
    return docs


def install(releases: Sequence[Release], ctx: JobContext, *, helm: str, kubectl: str,
            password: Callable[[], str]) -> list[str]:
    """Install or upgrade every release in order; return their names."""
    timeout = ctx.options.helm_timeout
    done = []
    for rel in releases:
        values_file = ctx.paths.work / f"values-{rel.release}.yaml"
        values = copy.deepcopy(rel.values)
        if rel.needs_password:
            values["bootstrapPassword"] = password()
        atomic_write(values_file, yaml.safe_dump(values, sort_keys=True).encode(), 0o600)
        ctx.run([helm, "upgrade", "--install", rel.release, rel.chart, "--repo", rel.repo,
                 "--version", rel.version, "--namespace", rel.namespace, "--create-namespace",
                 "--wait", "--timeout", f"{int(timeout)}s", "--values", values_file.name],
                f"add-on {rel.release}", timeout + 60)
        if rel.manifests:
            _apply_after_webhook(rel, ctx, kubectl)
        done.append(rel.release)
    return done


def _apply_after_webhook(rel: Release, ctx: JobContext, kubectl: str) -> None:
    """Apply the release's resources once its admission webhook answers.

    helm --wait sees the controller ready before its webhook serves, and an
    early apply fails with "failed calling webhook": wait, then retry until
    the deadline.
    """
    stage = f"add-on {rel.release} resources"
    timeout, poll = ctx.options.webhook_timeout, ctx.options.poll_seconds
    manifest = ctx.paths.work / f"{rel.release}-resources.yaml"
    atomic_write(manifest, yaml.safe_dump_all(rel.manifests, sort_keys=False).encode(), 0o600)
    deadline = ctx.clock() + timeout
    if rel.webhook_deployment:
        ctx.run([kubectl, "--namespace", rel.namespace, "wait", "--for=condition=Available",
                 f"deployment/{rel.webhook_deployment}", f"--timeout={int(timeout)}s"],
                stage, timeout + 30)
    while True:
        try:
            ctx.run([kubectl, "apply", "--filename", manifest.name], stage, 120)
            return
        except CommandFailed:
            if ctx.clock() + poll > deadline:
                raise
            ctx.note(f"the webhook does not answer yet; trying again in {poll:g}s")
            ctx.sleep(poll)
