"""Power control of the inventory's nodes: drivers made from `power:` and the secrets file,
actions queued as jobs, and each node's power state read now and then and kept with its age.

The service's runner thread runs the jobs; a CLI command that finds no service running
runs them itself (the runner's lock decides which process does, never both).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ..cluster.jobs import JobFailed, JobLog, JobRunner
from ..errors import SeedbedError
from ..inventory import Inventory
from ..store import Store
from .driver import ACTIONS, PowerDriver, PowerError
from .ipmi import IpmiDriver
from .jobs import FINISHED, PowerJob, PowerJobs
from .manual import ManualDriver
from .redfish import RedfishDriver
from .secrets import FILE_NAME, SecretsFile
from .wol import WolDriver

log = logging.getLogger("seedbed.power")


class PowerUnavailable(SeedbedError):
    """The node has no power control for this action; the text says what to do instead."""


@dataclass(frozen=True)
class PowerOptions:
    attempts: int = 3  # tries of one action before it is left failed
    backoff_seconds: float = 10.0  # wait before retry n is backoff * 2**(n-1) ...
    backoff_max_seconds: float = 120.0  # ... capped here
    poll_seconds: float = 300.0  # how old a node's power state may get before it is read again

    def backoff(self, attempt: int) -> float:
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.backoff_max_seconds)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> PowerOptions:
        """SEEDBED_POWER_<FIELD> overrides a field, e.g. SEEDBED_POWER_ATTEMPTS=1."""
        values: dict[str, float | int] = {}
        for f in fields(cls):
            raw = env.get(f"SEEDBED_POWER_{f.name.upper()}")
            if raw:
                try:
                    values[f.name] = int(raw) if f.name == "attempts" else float(raw)
                except ValueError:
                    raise PowerUnavailable(f"SEEDBED_POWER_{f.name.upper()}={raw!r} is not a "
                                           "number") from None
        options = cls(**values)  # type: ignore[arg-type]
        if options.attempts < 1 or min(options.backoff_seconds, options.poll_seconds) < 0:
            raise PowerUnavailable("SEEDBED_POWER_ATTEMPTS must be >= 1 and delays >= 0")
        return options


class PowerControl:
    def __init__(self, store: Store, inventory: Callable[[], Inventory], state_dir: Path,
                 options: PowerOptions = PowerOptions(), clock: Callable[[], float] = time.time,
                 runner: str = "service"):
        self.store, self.inventory, self.options, self.clock = store, inventory, options, clock
        self.secrets = SecretsFile(state_dir / FILE_NAME)
        self.jobs = PowerJobs(store, clock)
        # In the state folder itself: a read-only Seedbed (render, nodes) creates nothing.
        self.runner = JobRunner(self.jobs, state_dir / "power-job.lock", self._execute,
                                attempts=options.attempts, backoff=options.backoff,
                                runner=f"{runner} pid {os.getpid()}", secrets=self.secrets.values,
                                before=self.poll_due, thread_name="power-jobs")

    def start(self) -> None:
        self.runner.recover_if_free()
        self.runner.start()

    def stop(self) -> None:
        self.runner.stop()

    # -- drivers -----------------------------------------------------------------

    def driver(self, hostname: str) -> PowerDriver:
        node = self.inventory().node_by_hostname(hostname)
        if node is None:
            raise PowerUnavailable(f"no node {hostname!r} in the inventory")
        power = node.power
        if power is None:
            raise PowerUnavailable(f"{hostname} has no `power:` in the inventory: "
                                   f"{ManualDriver(hostname).what_to_do('reinstall')}")
        if power.driver == "wol":
            return WolDriver(power.mac or node.macs[0], str(power.broadcast or "255.255.255.255"),
                             power.interface)
        if power.driver == "manual":
            return ManualDriver(hostname, power.instructions)
        name = power.secret_name(hostname)
        password = self.secrets.get(name)
        if password is None:
            raise PowerUnavailable(f"{hostname}: no credential {name!r} yet: run "
                                   f"`seedbed power set-credentials {hostname}`")
        assert power.address and power.username  # the inventory model requires them
        if power.driver == "ipmi":
            return IpmiDriver(power.address, power.username, password, power.cipher_suite)
        return RedfishDriver(power.address, power.username, password, power.system,
                             power.ca_file or power.verify_tls is not False)

    # -- actions -------------------------------------------------------------------

    def request(self, hostname: str, action: str, who: str) -> int:
        """Queue an action; PowerUnavailable if the driver cannot do it (manual: what to do)."""
        self.check(hostname, action)
        with self.store.transaction() as db:
            self._refuse_if_busy(hostname, db)
            job_id = self.jobs.enqueue(hostname, action, who, db=db)
        self.runner.wake()
        return job_id

    def check(self, hostname: str, action: str) -> None:
        """Raise PowerUnavailable unless `action` could be queued for the node now."""
        if action not in ACTIONS:
            raise PowerUnavailable(f"unknown power action {action!r}: one of {', '.join(ACTIONS)}")
        driver = self.driver(hostname)
        if isinstance(driver, ManualDriver):
            raise PowerUnavailable(f"{hostname} has manual power control: "
                                   f"{driver.what_to_do(action)}")
        if not driver.capabilities.allows(action):
            raise PowerUnavailable(f"{hostname}'s power driver {driver.name} cannot {action}")
        self._refuse_if_busy(hostname)

    def _refuse_if_busy(self, hostname: str, db: sqlite3.Connection | None = None) -> None:
        busy = self.jobs.unfinished(hostname, db)
        if busy is not None:
            raise PowerBusy(f"{hostname} already has power job #{busy.id} ({busy.action}, "
                            f"{busy.state}): one at a time per node")

    def _execute(self, job: PowerJob, job_log: JobLog) -> str:
        try:
            driver = self.driver(job.hostname)
            job_log.write(f"# {job.action} through {driver.describe()}\n")
            self.jobs.update(job.id, stage=job.action)
            outcome = driver.run(job.action)
        except PowerUnavailable as exc:
            raise JobFailed(job.action, self.scrub(str(exc)), retry=False) from None
        except PowerError as exc:
            raise JobFailed(job.action, self.scrub(str(exc)), retry=exc.retry) from None
        job_log.write(outcome + "\n")
        self._forget_status(job.hostname)  # the state just changed: read it again soon
        return outcome

    def scrub(self, text: str) -> str:
        """A BMC's answer with any stored password masked (a BMC may echo what it was sent)."""
        for secret in self.secrets.values():
            text = text.replace(secret, "[redacted]")
        return text

    def final(self, job_id: int) -> PowerJob | None:
        """The last job of a chain of retries, as it stands now."""
        job = self.jobs.job(job_id)
        while job is not None and job.state == "failed":
            retry = self.jobs.retried_by(job.id)
            if retry is None:
                break
            job = retry
        return job

    def run_until_done(self, job_id: int, timeout: float,
                       sleep: Callable[[float], None] = time.sleep) -> PowerJob:
        """Run queued jobs in this process (or wait for the service that runs them) until
        `job_id` and its retries have finished, at most `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.final(job_id)
            assert job is not None
            if job.state in FINISHED:
                return job
            if time.monotonic() > deadline:
                raise PowerUnavailable(f"power job #{job.id} is still {job.state} after "
                                       f"{timeout:.0f}s; see `seedbed power status {job.hostname}`")
            delay = self.runner.tick()
            sleep(min(max(delay, 0.05), 1.0, max(0.0, deadline - time.monotonic())))

    # -- status --------------------------------------------------------------------

    def read_status(self, hostname: str) -> dict[str, Any]:
        """Ask the BMC now; the answer (or why there is none) is kept with its time."""
        driver = self.driver(hostname)
        if not driver.capabilities.status:
            raise PowerUnavailable(f"{hostname}'s power driver {driver.name} cannot read the "
                                   "power state")
        state, error = "unknown", None
        try:
            state = driver.status()
        except PowerError as exc:
            error = self.scrub(str(exc))
        with self.store.transaction(durable=False) as db:
            db.execute("INSERT INTO power_status (hostname, state, checked_at, error) VALUES "
                       "(?, ?, ?, ?) ON CONFLICT (hostname) DO UPDATE SET state = excluded.state,"
                       " checked_at = excluded.checked_at, error = excluded.error",
                       (hostname, state, self.clock(), error))
        return self.last_status(hostname) or {}

    def last_status(self, hostname: str) -> dict[str, Any] | None:
        row = self.store.read().execute("SELECT * FROM power_status WHERE hostname = ?",
                                        (hostname,)).fetchone()
        if row is None:
            return None
        return {"state": row["state"], "checked_at": row["checked_at"], "error": row["error"],
                "age_seconds": max(0.0, round(self.clock() - row["checked_at"], 1))}

    def _forget_status(self, hostname: str) -> None:
        with self.store.transaction(durable=False) as db:
            db.execute("UPDATE power_status SET checked_at = 0 WHERE hostname = ?", (hostname,))

    def poll_due(self) -> None:
        """One node whose power state is older than poll_seconds (the runner calls this each
        turn, so a dead BMC delays the jobs by one bounded read at most)."""
        now = self.clock()
        for node in self.inventory().nodes:
            if node.power is None or node.power.driver not in ("ipmi", "redfish"):
                continue
            last = self.last_status(node.hostname)
            if last is None or now - last["checked_at"] >= self.options.poll_seconds:
                try:
                    self.read_status(node.hostname)
                except PowerUnavailable:
                    continue  # no credential yet: nothing to read with
                return

    def summary(self, hostname: str) -> dict[str, Any]:
        """What the CLI and the API show: the driver, what it can do, the state and its age."""
        node = self.inventory().node_by_hostname(hostname)
        if node is None:
            raise PowerUnavailable(f"no node {hostname!r} in the inventory")
        try:
            driver: PowerDriver | None = self.driver(hostname)
            problem = None
        except PowerUnavailable as exc:
            driver, problem = None, str(exc)
        return {
            "hostname": hostname,
            "driver": node.power.driver if node.power else None,
            "target": driver.describe() if driver else None,
            "capabilities": driver.capabilities.as_dict() if driver else None,
            "problem": problem,
            "instructions": driver.what_to_do("reinstall") if isinstance(driver, ManualDriver)
            else None,
            "status": self.last_status(hostname),
            "jobs": [j.summary() for j in self.jobs.recent(hostname, 5)],
        }


class PowerBusy(PowerUnavailable):
    """The node has a power job queued or running."""
