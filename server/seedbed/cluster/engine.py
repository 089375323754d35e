"""The cluster engine: RKE v1's `rke up`, or RKE2 (rke2.py). RKE1 reached end of life in July
2025; both sit behind this one small interface, chosen by the inventory's cluster.engine."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from ..fsutil import atomic_write
from .context import JobContext
from .plan import Plan
from .state import ClusterPaths, restore_work_state, save_after_up


class Engine(Protocol):
    tools: tuple[str, ...]  # the executables up() is given, by name

    def up(self, plan: Plan, ctx: JobContext, tools: dict[str, str],
           update_only: bool) -> list[Path]: ...


class RkeEngine:
    tools = ("rke",)

    def up(self, plan: Plan, ctx: JobContext, tools: dict[str, str],
           update_only: bool) -> list[Path]:
        """Write cluster.yml, run rke up in the working folder, save state; return the backups."""
        tool = tools["rke"]
        paths = ctx.paths
        atomic_write(paths.cluster_yml, plan.text.encode(), 0o600)
        if restore_work_state(paths):
            ctx.note("cluster.rkestate was missing from the working folder: restored the saved copy")
        argv = [tool, "up", "--ignore-docker-version", "--config", paths.cluster_yml.name]
        if update_only:
            argv.append("--update-only")
        ctx.run(argv, "rke up", ctx.options.rke_timeout)
        ctx.stage("save cluster state")
        return save_after_up(paths, ctx.job_id)


def update_only_allowed(paths: ClusterPaths, previous: Sequence[dict[str, Any]] | None,
                        plan: Plan) -> bool:
    """--update-only skips etcd and controlplane work: only when none of those nodes is new.

    rke ignores the flag without state; a reinstalled node (new install) counts as new.
    """
    if previous is None or not paths.work_state.exists() and not paths.saved_state.exists():
        return False

    def core(members: Sequence[Any]) -> set[tuple[str, int | None]]:
        return {(m["hostname"], m["install"]) for m in members
                if {"etcd", "controlplane"} & set(m["roles"])}

    return core([m.as_dict() for m in plan.membership.members]) <= core(previous)
