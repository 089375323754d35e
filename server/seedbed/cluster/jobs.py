"""Cluster jobs: persisted in SQLite, run one at a time, retried with back-off.

    queued ──▶ running ──▶ succeeded | failed | interrupted
                              │ (attempts left)
                              └──▶ a new queued job, not before now + back-off

Every job holds an exclusive lock file while it runs (the service's worker
thread, or `seedbed cluster up` in the foreground). A job still marked
running when someone else gets that lock was cut off by a crash or SIGKILL:
it is recorded as interrupted, and the command it left behind is stopped.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import sqlite3
import threading
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..jobtable import JobRecord, JobTable
from . import proc

log = logging.getLogger("seedbed.cluster")

LOG_LIMIT = 256 * 1024  # the tail of each job's output is kept


@dataclass(frozen=True)
class Job(JobRecord):
    id: int
    reason: str
    state: str
    attempt: int
    retry_of: int | None
    force: bool
    created_at: float
    not_before: float
    started_at: float | None
    finished_at: float | None
    runner: str | None
    stage: str | None
    digest: str | None
    rke_digest: str | None
    rke_outcome: str | None
    update_only: bool | None
    members: list[dict[str, Any]] | None
    outcome: str | None
    log: str
    child_pid: int | None
    child_start: str | None
    engine: str | None = None  # rke or rke2 (schema 0050); None before engines were chosen


class JobFailed(Exception):
    def __init__(self, stage: str, message: str, retry: bool = True):
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.retry = retry


class Jobs(JobTable[Job]):
    """The cluster_jobs table; events go to the store's event log."""

    TABLE, VIEW, LOG_LIMIT = "cluster_jobs", "cluster_jobs_read", LOG_LIMIT
    NOUN = "cluster job"
    DURABLE_PROGRESS = True  # a digest or rke outcome recorded must survive a power cut

    def job_from_row(self, row: sqlite3.Row) -> Job:
        return _job(row)

    def event(self, db: sqlite3.Connection, message: str, job_id: int | None = None,
              hostname: str | None = None) -> None:
        self.store.add_event(db, self.clock(), "cluster", message, hostname=hostname,
                             data={"job": job_id} if job_id else None)

    def enqueue(self, reason: str, *, force: bool = False, attempt: int = 1,
                retry_of: int | None = None, delay: float = 0.0,
                db: sqlite3.Connection | None = None) -> int:
        now = self.clock()
        with self._tx(db) as tx:
            cur = tx.execute(
                "INSERT INTO cluster_jobs (reason, state, attempt, retry_of, force, created_at,"
                " not_before) VALUES (?, 'queued', ?, ?, ?, ?, ?)",
                (reason, attempt, retry_of, int(force), now, now + delay))
            job_id = int(cur.lastrowid)
            when = f" in {delay:.0f}s" if delay >= 1 else ""
            self.event(tx, f"cluster job #{job_id} queued{when}: {reason}", job_id)
        return job_id

    def retry(self, job: Job, reason: str, delay: float, db: sqlite3.Connection) -> int:
        """The next attempt of a failed job (JobRunner calls this on every kind of job)."""
        return self.enqueue(reason, force=job.force, attempt=job.attempt + 1, retry_of=job.id,
                            delay=delay, db=db)

    def claim(self, job_id: int, runner: str) -> bool:
        with self.store.transaction() as db:
            claimed = self._set_running(db, job_id, runner)
            if claimed:
                self.event(db, f"cluster job #{job_id} started ({runner})", job_id)
            return claimed

    def start_now(self, reason: str, runner: str) -> int:
        """A job created already running (the CLI runs it itself, holding the lock)."""
        with self.store.transaction() as db:
            job_id = self.enqueue(reason, force=True, db=db)
            self._set_running(db, job_id, runner, only_if_queued=False)
        return job_id

    def update(self, job_id: int, **fields: Any) -> None:
        if "members" in fields:
            fields["members"] = json.dumps(fields["members"])
        engine = fields.pop("engine", None)
        with self.store.transaction() as db:
            self._set_fields(db, job_id, fields)
            if engine is not None:  # its own table (schema 0050)
                db.execute("INSERT OR REPLACE INTO cluster_job_engines (job_id, engine)"
                           " VALUES (?, ?)", (job_id, engine))

    def finish(self, job_id: int, state: str, outcome: str,
               db: sqlite3.Connection | None = None) -> None:
        with self._tx(db) as tx:
            self._set_finished(tx, job_id, state, outcome)
            self.event(tx, f"cluster job #{job_id} {state}: {outcome}", job_id)

    # -- queries -----------------------------------------------------------------

    def recent(self, limit: int = 20) -> list[Job]:
        return self.select("1", limit=limit)

    def where(self, condition: str, args: tuple = ()) -> Job | None:
        """The newest job matching an SQL condition written in this package."""
        return self.newest(condition, args)


def _job(row: sqlite3.Row) -> Job:
    values = {k: row[k] for k in row.keys()}  # noqa: SIM118 - sqlite3.Row is not a dict
    values["force"] = bool(values["force"])
    values["update_only"] = None if values["update_only"] is None else bool(values["update_only"])
    values["members"] = json.loads(values["members"]) if values["members"] else None
    return Job(**values)


class JobLog:
    """A job's output: appended to its row as it comes, secrets masked, optionally echoed."""

    def __init__(self, jobs: Jobs, job_id: int, secrets: Callable[[], list[str]] = list,
                 echo: Callable[[str], None] | None = None):
        self.jobs, self.job_id, self._secrets, self._echo = jobs, job_id, secrets, echo

    def write(self, text: str) -> None:
        for secret in self._secrets():
            if secret:
                text = text.replace(secret, "[redacted]")
        self.jobs.append_log(self.job_id, text)
        if self._echo is not None:
            self._echo(text)


class JobLock:
    """An exclusive lock on a file; POSIX record locks vanish with their process."""

    def __init__(self, path: Path):
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the lock
            self._fd = None


Execute = Callable[[Job, JobLog], str]


class JobRunner:
    """Runs queued jobs one at a time; `execute` returns an outcome or raises JobFailed.

    `jobs` is any table with this module's Jobs methods (claim, finish, retry, next_queued,
    running, job, append_log): the power jobs (seedbed.power.jobs) share this runner."""

    def __init__(self, jobs: Jobs, lock_path: Path, execute: Execute, *, attempts: int,
                 backoff: Callable[[int], float], runner: str,
                 secrets: Callable[[], list[str]] = list,
                 after: Callable[[Job], None] | None = None,
                 recovered: Callable[[list[Job]], None] | None = None,
                 before: Callable[[], float | None] | None = None,
                 idle_seconds: float = 2.0, thread_name: str = "cluster-jobs"):
        self.jobs = jobs
        self.thread_name = thread_name
        self.lock = JobLock(lock_path)
        self.execute = execute
        self.attempts = attempts
        self.backoff = backoff
        self.runner = runner
        self.secrets = secrets
        self.after = after
        self.recovered = recovered
        # Each turn of the loop, before looking for a due job; seconds until it wants
        # another turn, or None.
        self.before = before
        self.idle_seconds = idle_seconds
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._mutex = threading.Lock()  # POSIX locks are per process: also exclude threads

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name=self.thread_name, daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                again = self.before() if self.before is not None else None
                delay = self.tick()
                if again is not None:
                    delay = min(delay, again)
            except Exception:  # the worker must outlive any one failure
                log.exception("cluster job runner")
                delay = self.idle_seconds
            self._wake.wait(delay)
            self._wake.clear()

    def tick(self) -> float:
        """Run the next due job if any; return how long to sleep before looking again."""
        with self._locked() as held:
            if not held:
                return self.idle_seconds  # another process runs a job
            interrupted = self.recover()
            if interrupted and self.recovered is not None:
                self.recovered(interrupted)
            job = self.jobs.next_queued()
            if job is None:
                return self.idle_seconds
            wait = job.not_before - self.jobs.clock()
            if wait > 0:
                return min(wait, self.idle_seconds)
            if self.jobs.claim(job.id, self.runner):
                self._run(job.id)
            return 0.0

    def run_foreground(self, reason: str, echo: Callable[[str], None], runner: str) -> Job:
        """Run a job now in this process (the CLI); raises RuntimeError if one is running."""
        with self._locked() as held:
            if not held:
                raise RuntimeError("another cluster job is running (see seedbed cluster status)")
            self.recover()
            job_id = self.jobs.start_now(reason, runner)
            self._run(job_id, echo, retry=False)
        job = self.jobs.job(job_id)
        assert job is not None
        return job

    @contextmanager
    def _locked(self) -> Iterator[bool]:
        with self._mutex:
            held = self.lock.acquire()
            try:
                yield held
            finally:
                if held:
                    self.lock.release()

    def recover_if_free(self) -> list[Job]:
        """Recover now unless another process holds the lock (it runs a job)."""
        with self._locked() as held:
            return self.recover() if held else []

    def recover(self) -> list[Job]:
        """With the lock held, jobs still marked running have no runner: record the truth."""
        found = self.jobs.running()
        for job in found:
            note = "seedbed stopped while this job was running"
            alive = job.child_pid and job.child_start and \
                proc.process_start(job.child_pid) == job.child_start
            if alive:
                proc.stop_group(job.child_pid)
                note += f"; its command (pid {job.child_pid}) was still running and was stopped"
            self.jobs.append_log(job.id, f"\n# {note}\n")
            self.jobs.finish(job.id, "interrupted", f"{note} (stage: {job.stage or 'start'})")
        return found

    def _run(self, job_id: int, echo: Callable[[str], None] | None = None,
             retry: bool = True) -> None:
        job = self.jobs.job(job_id)
        assert job is not None
        job_log = JobLog(self.jobs, job.id, self.secrets, echo)
        try:
            outcome = self.execute(job, job_log)
        except JobFailed as exc:
            job_log.write(f"\n# failed: {exc}\n")
            self._failed(job, str(exc), retry and exc.retry)
        except Exception as exc:  # a bug must still leave a truthful record
            job_log.write("\n# internal error:\n" + traceback.format_exc())
            self._failed(job, f"internal error: {exc}", retry)
        else:
            self.jobs.finish(job.id, "succeeded", outcome)
        finished = self.jobs.job(job.id)
        if self.after is not None and finished is not None:
            self.after(finished)

    def _failed(self, job: Job, message: str, retry: bool) -> None:
        with self.jobs.store.transaction() as db:
            if retry and job.attempt < self.attempts:
                delay = self.backoff(job.attempt)
                self.jobs.finish(job.id, "failed", f"{message}; retrying in {delay:.0f}s", db)
                self.jobs.retry(job, f"retry {job.attempt + 1} of {self.attempts} "
                                f"(job #{job.id} failed)", delay, db)
            else:
                tail = f" (attempt {job.attempt} of {self.attempts})" if retry else ""
                self.jobs.finish(job.id, "failed", message + tail, db)
