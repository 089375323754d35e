"""What every job table shares (cluster jobs, power jobs): the row lifecycle the shared
JobRunner drives — claim a queued row, record progress and log, finish it — and the
queries it polls with, and a job's lookup by id for the admin API, CLI and console. A
subclass names its table, the view it reads (a view may join in columns kept in other
tables) and how a row becomes its job type (a dataclass with JobRecord's methods)."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import fields
from typing import Any, ClassVar, Generic, TypeVar

from .errors import NotFound
from .store import Store


class JobRecord:
    """What a job dataclass shares: its summary (the row without its log, which is fetched on
    its own, and without what only the runner reads) and its detail (the summary and log)."""

    log: str
    NOT_SUMMARIZED: ClassVar[tuple[str, ...]] = ("log", "child_start")

    def summary(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)  # type: ignore[arg-type]
                if f.name not in self.NOT_SUMMARIZED}

    def detail(self) -> dict[str, Any]:
        return self.summary() | {"log": self.log}


J = TypeVar("J", bound=JobRecord)


class JobTable(Generic[J]):
    TABLE: ClassVar[str]  # the table written
    VIEW: ClassVar[str]  # what is read: the table, or a view over it
    LOG_LIMIT: ClassVar[int]  # the tail of each job's output that is kept
    NOUN: ClassVar[str]  # what one row is called in messages ("power job")
    # Whether progress (fields, log) waits for an fsync before the runner goes on; claims
    # and finishes always do (what a restart must find true).
    DURABLE_PROGRESS: ClassVar[bool] = False

    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def job_from_row(self, row: sqlite3.Row) -> J:
        raise NotImplementedError

    @contextmanager
    def _tx(self, db: sqlite3.Connection | None) -> Iterator[sqlite3.Connection]:
        """The caller's transaction, or a new one."""
        if db is not None:
            yield db
        else:
            with self.store.transaction() as tx:
                yield tx

    def _set_running(self, db: sqlite3.Connection, job_id: int, runner: str,
                     only_if_queued: bool = True) -> bool:
        cur = db.execute(f"UPDATE {self.TABLE} SET state = 'running', started_at = ?, runner = ?"  # noqa: S608
                         " WHERE id = ?" + (" AND state = 'queued'" if only_if_queued else ""),
                         (self.clock(), runner, job_id))
        return bool(cur.rowcount)

    def _set_fields(self, db: sqlite3.Connection, job_id: int, values: dict[str, Any]) -> None:
        if values:
            assignments = ", ".join(f"{k} = ?" for k in values)
            db.execute(f"UPDATE {self.TABLE} SET {assignments} WHERE id = ?",  # noqa: S608 - ours
                       (*values.values(), job_id))

    def _set_finished(self, db: sqlite3.Connection, job_id: int, state: str, outcome: str) -> None:
        db.execute(f"UPDATE {self.TABLE} SET state = ?, outcome = ?, finished_at = ? WHERE id = ?",  # noqa: S608
                   (state, outcome, self.clock(), job_id))

    def append_log(self, job_id: int, text: str) -> None:
        with self.store.transaction(durable=self.DURABLE_PROGRESS) as db:
            db.execute(f"UPDATE {self.TABLE} SET log = substr(log || ?, -?) WHERE id = ?",  # noqa: S608
                       (text, self.LOG_LIMIT, job_id))

    # -- queries -------------------------------------------------------------------

    def job(self, job_id: int, db: sqlite3.Connection | None = None) -> J | None:
        return self.newest("id = ?", (job_id,), db)

    def existing(self, job_id: int) -> J:
        """The job, else NotFound naming it (the admin API answers 404)."""
        job = self.job(job_id)
        if job is None:
            raise NotFound(f"no {self.NOUN} #{job_id}")
        return job

    def next_queued(self) -> J | None:
        return self.newest("state = 'queued'", order="not_before, id")

    def running(self) -> list[J]:
        return self.select("state = 'running'", order="id")

    def newest(self, condition: str, args: tuple = (), db: sqlite3.Connection | None = None,
               order: str = "id DESC") -> J | None:
        """The first job matching an SQL condition written in this package."""
        rows = self.select(condition, args, db, order, limit=1)
        return rows[0] if rows else None

    def select(self, condition: str, args: tuple = (), db: sqlite3.Connection | None = None,
               order: str = "id DESC", limit: int = -1) -> list[J]:
        rows = (db or self.store.read()).execute(
            f"SELECT * FROM {self.VIEW} WHERE {condition} ORDER BY {order} LIMIT ?",  # noqa: S608
            (*args, limit)).fetchall()
        return [self.job_from_row(r) for r in rows]
