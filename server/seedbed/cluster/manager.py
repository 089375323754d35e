"""The cluster's conductor: ready callbacks in, jobs out, and what `cluster status` shows."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..inventory import Inventory, Node
from ..store import Store
from . import addons, clusteryml, preflight, rke2, rke2config, rke2token
from .clusteryml import ClusterYmlError
from .context import JobContext
from .engine import Engine, RkeEngine, update_only_allowed
from .jobs import Job, JobFailed, JobLog, JobRunner, Jobs
from .options import ClusterOptions
from .plan import Membership, Plan, make_plan, membership
from .proc import CommandFailed, Started
from .rke2 import Rke2Engine
from .sshkey import ServiceKey, ensure_service_key, key_dir, load_service_key
from .state import (
    KUBECONFIG_FILE,
    ClusterPaths,
    backups,
    copy_kubeconfig,
    password_source,
    rancher_password,
)
from .tools import ToolMissing, find_tool

log = logging.getLogger("seedbed.cluster")


class ClusterManager:
    def __init__(self, store: Store, inventory: Callable[[], Inventory], state_dir: Path,
                 options: ClusterOptions, clock: Callable[[], float] = time.time,
                 runner: str = "service", engine: Engine | None = None):
        self.store = store
        self.inventory = inventory
        self.state_dir = state_dir.absolute()  # rke reads the key path from another folder
        self.options = options
        self.paths = ClusterPaths(self.state_dir / "cluster")
        self.jobs = Jobs(store, clock)
        self._engine = engine  # tests give one; else the inventory's cluster.engine decides
        self._secrets: list[str] = []
        self._key: ServiceKey | None = None
        self._reconciling = threading.Lock()
        self._reported: list[str] = []  # ready reports not yet reconciled (runner thread's work)
        self._reported_first = self._reported_last = 0.0  # time.monotonic() of those reports
        self._reported_lock = threading.Lock()
        if self.paths.rancher_password.exists():  # masked in job logs
            self._secrets = [self.paths.rancher_password.read_text(encoding="ascii").strip()]
        self.runner = JobRunner(
            self.jobs, self.paths.lock, self._execute, attempts=options.attempts,
            backoff=options.backoff, runner=f"{runner} pid {os.getpid()}",
            secrets=lambda: self._secrets, after=self._after, before=self._before_turn,
            recovered=lambda found: self.reconcile(self._rerun_reason(found)))

    # -- service hooks ---------------------------------------------------------

    @property
    def service_key(self) -> ServiceKey | None:
        # Served in every user-data: after start() it is kept, not re-read from disk.
        return self._key or load_service_key(self.state_dir)

    @property
    def key_path(self) -> Path:
        return key_dir(self.state_dir) / "id_ed25519"

    def engine_for(self, inv: Inventory) -> Engine:
        if self._engine is not None:
            return self._engine
        return Rke2Engine(inv, self.key_path) if inv.cluster.engine == "rke2" else RkeEngine()

    def rke2_token(self, node: Node) -> str:
        """The token a member's first boot writes into config.yaml: the bare secret for the
        first server (it starts the cluster), the K10 form for the others once it is known."""
        rke2token.ensure_token(self.paths)
        return rke2token.token_for(self.paths, self.is_first_server(node))

    def is_first_server(self, node: Node) -> bool:
        return node.hostname == rke2config.first_server(self.inventory()).hostname

    def start(self) -> None:
        """At service start: the SSH key pair exists, the worker runs, missed work is queued."""
        self.paths.prepare()
        self._key = ensure_service_key(self.state_dir)
        if self.inventory().cluster.engine == "rke2":
            rke2token.ensure_token(self.paths)  # before any member's seed is served
        interrupted = self.runner.recover_if_free()
        self.runner.start()
        if self.options.auto:
            self.reconcile(self._rerun_reason(interrupted) if interrupted else "service started")

    @staticmethod
    def _rerun_reason(interrupted: list[Job]) -> str:
        return "re-run after interrupted job " + ", ".join(f"#{j.id}" for j in interrupted)

    def stop(self) -> None:
        self.runner.stop()

    def node_ready(self, hostname: str) -> None:
        """After a ready callback (healthy or not): only noted, the runner thread reconciles.

        Planning the cluster costs far more than the callback itself, and a job started for
        the first of many reports fails its preflight on the rest: a burst of ready reports
        becomes one reconcile once it settles (ClusterOptions.ready_settle_seconds).
        """
        if not self.options.auto:
            return
        now = time.monotonic()
        with self._reported_lock:
            if not self._reported:
                self._reported_first = now
            self._reported_last = now
            if hostname not in self._reported:
                self._reported.append(hostname)
        self.runner.wake()

    def _settling(self, now: float) -> float:
        """Seconds until the noted reports are planned (<= 0: now); the caller holds the lock."""
        quiet = self._reported_last + self.options.ready_settle_seconds
        latest = self._reported_first + self.options.ready_settle_max_seconds
        return min(quiet, latest) - now

    def reconcile_reported(self) -> int | None:
        """Reconcile once for the ready reports noted, when they have settled (the runner's loop)."""
        with self._reported_lock:
            if not self._reported or self._settling(time.monotonic()) > 0:
                return None
            names, self._reported = self._reported, []
        try:
            return self.reconcile(f"{', '.join(names)} reported ready")
        except Exception:
            log.exception("cluster: reconcile after the ready report of %s failed", ", ".join(names))
            return None

    def _before_turn(self) -> float | None:
        """The runner's step before each turn: settled reports planned; seconds until the rest are."""
        self.reconcile_reported()
        with self._reported_lock:
            return max(0.0, self._settling(time.monotonic())) if self._reported else None

    # -- deciding --------------------------------------------------------------

    def plan(self, inv: Inventory | None = None) -> Plan:
        inv = inv or self.inventory()
        rows = {row.hostname: row for row in self.store.nodes()}
        return make_plan(inv, rows, self.key_path)

    def reconcile(self, reason: str) -> int | None:
        """Queue a run if the cluster differs from what its ready nodes make; the job id or None."""
        with self._reconciling:
            try:
                plan = self.plan()
            except ClusterYmlError as exc:
                with self.store.transaction() as db:
                    self.jobs.event(db, f"cluster.yml not written: {exc}")
                return None
            if not plan.membership.complete:
                return None
            with self.store.transaction() as db:
                job_id = self._enqueue_if_needed(db, plan, reason)
        if job_id is not None:
            self.runner.wake()
        return job_id

    def _enqueue_if_needed(self, db: Any, plan: Plan, reason: str) -> int | None:
        if db.execute("SELECT 1 FROM cluster_jobs WHERE state = 'queued'").fetchone():
            return None  # a queued job plans afresh when it starts
        running = db.execute("SELECT digest FROM cluster_jobs WHERE state = 'running'").fetchone()
        if running is not None and running["digest"] == plan.digest:
            return None
        last = db.execute("SELECT state FROM cluster_jobs WHERE digest = ? AND state IN"
                          " ('succeeded', 'failed') ORDER BY id DESC LIMIT 1",
                          (plan.digest,)).fetchone()
        if last is not None:
            # Done already, or it failed every attempt: only `cluster up` tries that again.
            return None
        return self.jobs.enqueue(reason, db=db)

    def request_up(self, who: str) -> int:
        """An admin's `up`: runs even when nothing changed (reuses a queued job)."""
        with self.store.transaction() as db:
            queued = db.execute("SELECT id FROM cluster_jobs WHERE state = 'queued'"
                                " ORDER BY id LIMIT 1").fetchone()
            if queued is not None:
                db.execute("UPDATE cluster_jobs SET force = 1, not_before = MIN(not_before, ?)"
                           " WHERE id = ?", (self.jobs.clock(), queued["id"]))
                job_id = int(queued["id"])
            else:
                job_id = self.jobs.enqueue(f"requested by {who}", force=True, db=db)
        self.runner.wake()
        return job_id

    def run_foreground(self, who: str, echo: Callable[[str], None]) -> Job:
        """Run a job in this process now (`seedbed cluster up`), its output echoed."""
        self.paths.prepare()
        ensure_service_key(self.state_dir)
        return self.runner.run_foreground(f"requested by {who}", echo, f"{who} pid {os.getpid()}")

    # -- running -----------------------------------------------------------------

    def _execute(self, job: Job, job_log: JobLog) -> str:
        ctx = JobContext(
            job.id, self.paths, job_log, self._child_env(), self.options,
            on_start=lambda s: self._child_started(job.id, s),
            on_stage=lambda stage: self.jobs.update(job.id, stage=stage))
        inv = self.inventory()
        self._preflight(inv, ctx)
        plan = self._job_plan(inv, ctx)
        last_success = self.jobs.where("state = 'succeeded' AND digest IS NOT NULL")
        if not job.force and last_success is not None and last_success.digest == plan.digest:
            return f"nothing to do: the cluster matches job #{last_success.id}"
        engine = self.engine_for(inv)
        tools = self._tools(inv, plan, ctx, engine)
        previous = self.jobs.where("rke_outcome = 'ok'")
        rke2 = inv.cluster.engine == "rke2"
        update_only = not rke2 and update_only_allowed(
            self.paths, previous.members if previous else None, plan)
        self.jobs.update(job.id, digest=plan.digest, rke_digest=plan.rke_digest,
                         update_only=update_only, engine=inv.cluster.engine,
                         members=[m.as_dict() for m in plan.membership.members])
        if self._rke_needed(job, plan, inv):
            self._rke_up(job, plan, ctx, engine, tools, update_only, inv, previous)
        else:
            what = ("the RKE2 members are unchanged", "convergence: not waiting for nodes again") \
                if rke2 else ("cluster.yml is unchanged", "rke up: not running rke")
            ctx.note(f"{what[0]} since job #{previous and previous.id}'s successful {what[1]}")
        done = self._addons(inv, plan, ctx, tools)
        names = ", ".join(m.hostname for m in plan.membership.members)
        flag = " --update-only" if update_only else ""
        step = "rke2: every member Ready" if rke2 else f"rke up{flag}"
        return (f"{len(plan.membership.members)} nodes ({names}); {step}; "
                f"add-ons: {', '.join(done) or 'none'}")

    def preflight(self, echo: Callable[[str], None], *, inv: Inventory | None = None,
                  stop_at_failure: bool = False,
                  env: dict[str, str] | None = None) -> list[preflight.Verdict]:
        """Run the preflight checks on the inventory; SSH reaches the ready, healthy nodes."""
        inv = inv or self.inventory()
        self.paths.prepare()
        found = membership(inv, {row.hostname: row for row in self.store.nodes()})
        checks = preflight.Preflight(inv, self.paths, env or self._child_env(), self.key_path,
                                     found.nodes, found.waiting + found.left_out, echo)
        return preflight.run(checks, skip=self.options.preflight_skipped,
                             stop_at_failure=stop_at_failure)

    def _preflight(self, inv: Inventory, ctx: JobContext) -> None:
        # The first stage of every job: a setup known to fail never reaches rke up.
        ctx.stage("preflight")
        verdicts = self.preflight(lambda line: ctx.note(f"preflight: {line}"), inv=inv,
                                  stop_at_failure=True, env=ctx.env)
        failed = [v for v in verdicts if v.ok is False]
        if failed:
            raise JobFailed("preflight", failed[0].line(), retry=False)

    def _job_plan(self, inv: Inventory, ctx: JobContext) -> Plan:
        ctx.stage("render cluster.yml")
        try:
            plan = self.plan(inv)
        except ClusterYmlError as exc:
            raise JobFailed("render cluster.yml", str(exc), retry=False) from None
        if not plan.membership.complete:
            waiting = ", ".join(plan.membership.waiting) or "no ready nodes"
            raise JobFailed("render cluster.yml", "controlplane and etcd nodes are not all "
                            f"ready and healthy: {waiting}", retry=False)
        for warning in plan.warnings:
            ctx.note(f"warning: {warning}")
        for left in plan.membership.left_out:
            ctx.note(f"not in cluster.yml: {left}")
        return plan

    def _tools(self, inv: Inventory, plan: Plan, ctx: JobContext,
               engine: Engine) -> dict[str, str]:
        ctx.stage("find tools")
        needed = list(dict.fromkeys(list(engine.tools)
                                    + (["helm", "kubectl"] if plan.releases else [])))
        try:
            return {name: find_tool(name, inv.cluster.tools, ctx.env.get("PATH"))
                    for name in needed}
        except ToolMissing as exc:
            raise JobFailed("find tools", str(exc), retry=False) from None

    def _rke_needed(self, job: Job, plan: Plan, inv: Inventory) -> bool:
        latest = self.jobs.where("rke_outcome IS NOT NULL AND id != ?", (job.id,))
        saved = self.paths.kubeconfig if inv.cluster.engine == "rke2" else self.paths.saved_state
        return (job.force or latest is None or latest.rke_outcome != "ok"
                or latest.rke_digest != plan.rke_digest or not saved.exists())

    def _rke_up(self, job: Job, plan: Plan, ctx: JobContext, engine: Engine,
                tools: dict[str, str], update_only: bool, inv: Inventory,
                previous: Job | None) -> None:
        try:
            made = engine.up(plan, ctx, tools, update_only)
        except CommandFailed as exc:
            self.jobs.update(job.id, rke_outcome="failed")
            raise JobFailed(exc.stage, exc.reason) from None
        except OSError as exc:
            self.jobs.update(job.id, rke_outcome="failed")
            raise JobFailed("save cluster state", str(exc)) from None
        self.jobs.update(job.id, rke_outcome="ok")
        ctx.note("saved " + ", ".join(p.name for p in made))
        if inv.cluster.kubeconfig:
            self._copy_kubeconfig(job, inv.cluster.kubeconfig, ctx)
        before = {m["hostname"] for m in (previous.members or [])} if previous else set()
        now = {m.hostname for m in plan.membership.members}
        with self.store.transaction() as db:
            for name in sorted(now - before):
                self.jobs.event(db, f"joined the cluster (job #{job.id})", job.id, name)
            for name in sorted(before - now):
                self.jobs.event(db, f"left the cluster (job #{job.id})", job.id, name)

    def _copy_kubeconfig(self, job: Job, target: str, ctx: JobContext) -> None:
        # The cluster is up either way: a failed copy is reported, not retried with rke.
        try:
            copy_kubeconfig(self.paths, target)
        except OSError as exc:
            ctx.note(f"warning: kubeconfig not copied to {target}: {exc}")
            with self.store.transaction() as db:
                self.jobs.event(db, f"kubeconfig not copied to {target}: {exc}", job.id)

    def _addons(self, inv: Inventory, plan: Plan, ctx: JobContext, tools: dict[str, str]) -> list[str]:
        if not plan.releases:
            return []

        def password() -> str:
            secret = rancher_password(inv, self.paths)
            self._secrets = [secret]
            return secret

        try:
            return addons.install(plan.releases, ctx, helm=tools["helm"], kubectl=tools["kubectl"],
                                  password=password)
        except CommandFailed as exc:
            raise JobFailed(exc.stage, exc.reason) from None

    def _child_env(self) -> dict[str, str]:
        helm = self.paths.root / "helm"
        env = dict(os.environ)
        env.update(KUBECONFIG=str(self.paths.work_kubeconfig),
                   HELM_CACHE_HOME=str(helm / "cache"), HELM_CONFIG_HOME=str(helm / "config"),
                   HELM_DATA_HOME=str(helm / "data"))
        return env

    def _child_started(self, job_id: int, started: Started) -> None:
        self.jobs.update(job_id, child_pid=started.pid, child_start=started.start_ticks)

    def _after(self, job: Job) -> None:
        # Nodes may have become ready while it ran: look again (a failure waits for its retry).
        if job.state == "succeeded" and self.options.auto:
            self.reconcile(f"changes while job #{job.id} ran")

    # -- showing ---------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        inv = self.inventory()
        try:
            plan = self.plan(inv)
            problem = None
        except ClusterYmlError as exc:
            plan, problem = None, str(exc)
        membership = plan.membership if plan else None
        in_cluster = self.jobs.where("rke_outcome = 'ok'")
        recent = self.jobs.recent(10)
        key = self.service_key
        rancher = inv.cluster.rancher
        engine = inv.cluster.engine
        return {
            "engine": engine,
            "engine_waits_for": self._engine_waits(inv, membership, problem),
            "rke2_token": ("generated" if self.paths.rke2_token.exists() else "not generated yet")
            if engine == "rke2" else None,
            "kubeconfig_backups": [p.name for p in backups(self.paths, KUBECONFIG_FILE)],
            "ready": bool(membership and membership.complete),
            "waiting_for": membership.waiting if membership else [],
            "left_out": membership.left_out if membership else [],
            "problem": problem,
            "members": in_cluster.members if in_cluster else [],
            "members_since_job": in_cluster.id if in_cluster else None,
            "kubernetes_version": clusteryml.kubernetes_version(inv),
            "kubeconfig": str(self.paths.kubeconfig) if self.paths.kubeconfig.exists() else None,
            "kubeconfig_copy": inv.cluster.kubeconfig,
            "rkestate_backups": [p.name for p in backups(self.paths)],
            "rancher": {"url": f"https://{addons.rancher_hostname(inv)}",
                        "bootstrap_password": password_source(inv, self.paths)}
            if rancher.enabled else None,
            "service_key": key.public if key else None,
            "last_job": recent[0].summary() if recent else None,
            "jobs": [j.summary() for j in recent],
        }

    def _engine_waits(self, inv: Inventory, membership: Membership | None,
                      problem: str | None) -> str:
        if problem is not None:
            return "a valid cluster plan (see problem)"
        if inv.cluster.engine == "rke2":
            return rke2.waits_for(inv, membership, self.paths)
        if membership is None or not membership.complete:
            return "the ready callbacks of every controlplane and etcd node"
        return "a job: rke up over SSH, then the add-ons"

    def rancher_password(self) -> str | None:
        inv = self.inventory()
        if not inv.cluster.rancher.enabled:
            return None
        self.paths.prepare()  # a generated password is kept there, in a private folder
        return rancher_password(inv, self.paths)
