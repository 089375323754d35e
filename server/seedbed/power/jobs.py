"""Power jobs: one row per action on a node, run by the cluster's JobRunner (one at a time,
retried with back-off, recorded as interrupted when seedbed stopped under them).

    queued ──▶ running ──▶ succeeded | failed | interrupted
                              │ (attempts left, and the BMC may answer next time)
                              └──▶ a new queued job, not before now + back-off

Every change is an event of kind `power` on the node: who asked, what, and the result.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from ..jobtable import JobRecord, JobTable

LOG_LIMIT = 16 * 1024
FINISHED = ("succeeded", "failed", "interrupted")


@dataclass(frozen=True)
class PowerJob(JobRecord):
    id: int
    hostname: str
    action: str
    who: str
    state: str
    attempt: int
    retry_of: int | None
    created_at: float
    not_before: float
    started_at: float | None
    finished_at: float | None
    runner: str | None
    stage: str | None
    outcome: str | None
    log: str
    child_pid: None = None  # a power job runs no command that outlives it
    child_start: None = None
    NOT_SUMMARIZED: ClassVar[tuple[str, ...]] = ("log", "child_pid", "child_start")


_COLUMNS = tuple(f.name for f in fields(PowerJob) if f.name not in ("child_pid", "child_start"))


class PowerJobs(JobTable[PowerJob]):
    """The power_jobs table, with the methods JobRunner calls (see cluster.jobs.Jobs)."""

    TABLE = VIEW = "power_jobs"
    NOUN = "power job"
    LOG_LIMIT = LOG_LIMIT

    def job_from_row(self, row: sqlite3.Row) -> PowerJob:
        return _job(row)

    def event(self, db: sqlite3.Connection, job: PowerJob | None, message: str,
              hostname: str | None = None, job_id: int | None = None) -> None:
        host = hostname or (job.hostname if job else None)
        self.store.add_event(db, self.clock(), "power", message, hostname=host,
                             data={"job": job_id or (job.id if job else None)})

    def enqueue(self, hostname: str, action: str, who: str, *, attempt: int = 1,
                retry_of: int | None = None, delay: float = 0.0,
                db: sqlite3.Connection | None = None) -> int:
        now = self.clock()
        with self._tx(db) as tx:
            cur = tx.execute(
                "INSERT INTO power_jobs (hostname, action, who, state, attempt, retry_of,"
                " created_at, not_before) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                (hostname, action, who, attempt, retry_of, now, now + delay))
            job_id = int(cur.lastrowid)
            when = f", attempt {attempt} in {delay:.0f}s" if retry_of else ""
            self.event(tx, None, f"power {action} queued by {who} (job #{job_id}{when})",
                       hostname, job_id)
        return job_id

    def retry(self, job: PowerJob, reason: str, delay: float, db: sqlite3.Connection) -> int:
        return self.enqueue(job.hostname, job.action, job.who, attempt=job.attempt + 1,
                            retry_of=job.id, delay=delay, db=db)

    def claim(self, job_id: int, runner: str) -> bool:
        with self.store.transaction() as db:
            return self._set_running(db, job_id, runner)

    def update(self, job_id: int, **values: Any) -> None:
        with self.store.transaction(durable=False) as db:
            self._set_fields(db, job_id, values)

    def finish(self, job_id: int, state: str, outcome: str,
               db: sqlite3.Connection | None = None) -> None:
        with self._tx(db) as tx:
            self._set_finished(tx, job_id, state, outcome)
            job = self.job(job_id, tx)
            if job is not None:
                self.event(tx, job, f"power {job.action} by {job.who} {state} (job #{job_id}, "
                           f"attempt {job.attempt}): {outcome}")

    # -- queries -------------------------------------------------------------------

    def unfinished(self, hostname: str, db: sqlite3.Connection | None = None) -> PowerJob | None:
        return self.newest("hostname = ? AND state IN ('queued', 'running')", (hostname,), db)

    def retried_by(self, job_id: int) -> PowerJob | None:
        return self.newest("retry_of = ?", (job_id,))

    def recent(self, hostname: str, limit: int = 10) -> list[PowerJob]:
        return self.select("hostname = ?", (hostname,), limit=limit)


def _job(row: sqlite3.Row) -> PowerJob:
    return PowerJob(**{k: row[k] for k in _COLUMNS})
