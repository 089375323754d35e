"""The store's writer thread: request threads hand it their writes, it commits them in batches.

Why a thread: every SQLite call releases the GIL, and under load each release handed it to
the HTTP loop or another request thread, a thread switch each. One small transaction in a
request thread cost ~1.5 ms of CPU at 50 connections where the request without it cost
0.4 ms (bench/wrk_bench.py); here the switches are paid once per batch, on one thread.

Two kinds of writes, run in the order they were handed over:
- `write(work)`: the caller waits until it is committed and gets what `work` returned or
  raised (a durable write's caller then waits for the fsync itself, so the thread goes on
  to the next batch meanwhile). Installs begun, machine callbacks.
- `record(work)`: the caller does not wait. Boots, discovered MACs, seed fetches: what
  happened, not state a later request depends on. They reach the WAL within one batch
  (milliseconds); a crash in that time loses them, as a power cut before the next fsync
  loses them anyway.
`settle()` waits until everything handed over so far is committed: the reads that show
records call it, so an answer never misses a record made before it was asked for.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from . import limits

log = logging.getLogger("seedbed.store")

Work = Callable[[sqlite3.Connection], Any]
IDLE_SECONDS = 5.0  # the thread ends after this long with nothing to write; the next write starts one
BATCH_MAX = 512  # writes per transaction at most


class Pending:
    """One write handed over: its function, then its outcome."""

    __slots__ = ("work", "durable", "done", "result", "error", "commit")

    def __init__(self, work: Work, durable: bool, waited: bool):
        self.work, self.durable = work, durable
        self.done = threading.Event() if waited else None  # None: a record, nobody waits
        self.result: Any = None
        self.error: BaseException | None = None
        self.commit = 0  # the commit that holds it (for the fsync); 0 when it wrote nothing

    def outcome(self) -> Any:  # noqa: ANN401 - whatever `work` returned
        if self.error is not None:
            raise self.error
        return self.result


class BatchWriter:
    """A queue and the thread that drains it through `commit_batch` (seedbed.database)."""

    def __init__(self, commit_batch: Callable[[list[Pending]], None], name: str):
        self._commit_batch = commit_batch
        self._name = name
        self._queue: list[Pending] = []
        self._cv = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._busy = False  # the thread holds a batch (under _cv)
        self._stopping = False
        self._kept = False  # started by keep(): no idle end

    def keep(self) -> None:
        """Start the thread now and keep it until stop(): a serving process's. Started by
        the first write under load instead, it left that load's requests at 2-3x the CPU
        for as long as their connections lasted (bench/wrk_bench.py; the cause is the
        scheduler's, the cure is to start before the load)."""
        with self._cv:
            self._kept = True
            self._start()

    def thread_id(self) -> int | None:
        """The native id of the writing thread, while there is one."""
        with self._cv:
            return self._thread.native_id if self._thread is not None else None

    def write(self, work: Work, durable: bool) -> Pending:
        """Hand `work` over and wait until it ran: its outcome, and the commit holding it."""
        item = self._hand_over(Pending(work, durable, waited=True))
        assert item.done is not None
        item.done.wait()
        return item

    def record(self, work: Work) -> None:
        with self._cv:
            full = len(self._queue) >= limits.RECORDS_QUEUED_MAX
        if full:
            self.write(work, durable=False).outcome()
        else:
            self._hand_over(Pending(work, durable=False, waited=False))

    def settle(self) -> None:
        """Return once every write handed over before this call is committed."""
        with self._cv:
            if (not self._queue and not self._busy) or threading.current_thread() is self._thread:
                return
        self.write(lambda _db: None, durable=False)

    def stop(self) -> None:
        """Write what is queued, then end the thread (a later write starts a new one)."""
        with self._cv:
            thread, self._stopping = self._thread, True
            self._cv.notify()
        if thread is not None:
            thread.join()
        with self._cv:
            self._stopping = self._kept = False

    def _hand_over(self, item: Pending) -> Pending:
        with self._cv:
            self._queue.append(item)
            self._start()
            self._cv.notify()
        return item

    def _start(self) -> None:  # under _cv
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cv:
                if not self._queue and not self._stopping:
                    self._cv.wait(None if self._kept else IDLE_SECONDS)
                if not self._queue:  # idle or stopping: end; _hand_over starts a new thread
                    self._thread = None
                    return
                batch, self._queue = self._queue[:BATCH_MAX], self._queue[BATCH_MAX:]
                self._busy = True
            try:
                self._commit_batch(batch)
            except BaseException as exc:  # noqa: BLE001 - every waiter learns it; the thread goes on
                for item in batch:
                    item.error = item.error or exc
                log.exception("the store could not commit %d writes", len(batch))
            finally:
                with self._cv:
                    self._busy = False
                for item in batch:
                    if item.done is not None:
                        item.done.set()
                    elif item.error is not None:
                        log.error("a record was not stored: %s", item.error)
