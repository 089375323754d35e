"""SQLite in the state folder: one connection per thread, one writer, durable commits.

WAL mode lets the HTTP threads read while one writer commits; every state
change is one transaction, so a crash leaves the last committed state.

Durability: every commit reaches the WAL file at once, so it survives the process
being killed. A durable transaction (the default: callbacks, installs begun, admin
changes) also returns only once the WAL is fsynced, so what a machine or an admin
was told survives a power cut, as with SQLite's synchronous=FULL. The fsync is
shared (group commit): commits are written with synchronous=NORMAL, and one fsync
of the WAL covers every commit before it, so writers that commit while an fsync
runs wait for the next one together instead of one fsync each (an fsync costs
milliseconds; fifty machines at once made a queue of them). Records (a boot, a
discovered MAC, a seed fetched) wait for no fsync; the next one covers them too.
SQLite itself fsyncs the WAL before a checkpoint and the database after it.

Requests write through one writer thread (`write`, `record`; seedbed.batch_writer), which
commits what was handed over meanwhile as one transaction; other parts (jobs, power, the
console) use `transaction` on their own threads. Both hold the one writer lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from . import limits, schema
from .batch_writer import BatchWriter, Pending, Work


class Database:
    """The connections to one SQLite file (seedbed.store.Store holds its queries)."""

    def __init__(self, path: Path, *, read_only: bool = False):
        """The store at `path`, created and migrated; with `read_only` see `reader`."""
        self.path = path
        self.read_only = read_only
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []  # every thread's, closed by close()
        self._opened_lock = threading.Lock()
        # One writer at a time inside this process: SQLite's own busy handler
        # sleeps in growing steps, which turns write contention into long tails.
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()  # one WAL fsync at a time
        self._commits = 0  # commits made by this process (under _write_lock)
        self._synced = 0  # commits an fsync has covered (under _sync_lock)
        self._wal = path.with_name(path.name + "-wal")
        self._writer = BatchWriter(self._commit_batch, f"store-writer {path}")
        self._writer_db: sqlite3.Connection | None = None
        if read_only:
            return
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        _private_file(path)
        with self._write_lock:
            schema.migrate(self._connect())

    @classmethod
    def reader(cls, path: Path) -> Self:
        """The store at `path` for reading only: nothing is created, migrated or written.

        SQLite opens it with mode=ro, or immutable=1 when no WAL is left (a read-only
        connection would create the -wal and -shm files; with no -wal no process has the
        store open). A missing store reads as an empty one."""
        return cls(path, read_only=True)

    def _connect(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._open_read_only() if self.read_only else self._open()
            db.row_factory = sqlite3.Row
            self._local.db = db
            with self._opened_lock:
                self._opened.append(db)
        return db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # the WAL fsync is ours: _sync_through
        db.execute("PRAGMA foreign_keys=ON")
        db.execute(f"PRAGMA journal_size_limit={limits.WAL_MAX_BYTES}")
        return db

    def _open_read_only(self) -> sqlite3.Connection:
        if not self.path.is_file():
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            schema.migrate(db)  # the tables, empty
            return db
        mode = "mode=ro" if self._wal.exists() else "immutable=1"
        return sqlite3.connect(f"{self.path.absolute().as_uri()}?{mode}", uri=True, timeout=30,
                               isolation_level=None, check_same_thread=False)

    def close(self) -> None:
        """Write what was handed over, then close every thread's connection (the last one
        out checkpoints the WAL away)."""
        self._writer.stop()
        self._writer_db = None
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
        self._local = threading.local()

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE so check-then-write is atomic.
        `durable=False` for records that need not be fsynced before the answer (module doc)."""
        self._refuse_if_read_only()
        self.settle()  # what requests handed over before this commits before it
        db = self._connect()
        with self._write_lock:
            changes = db.total_changes
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            if db.total_changes == changes:
                return  # nothing written (a check that found nothing to do): nothing to sync
            self._commits += 1
            mine = self._commits
        if durable:
            self._sync_through(mine)

    def write(self, work: Work, durable: bool = True) -> Any:  # noqa: ANN401 - what `work` returns
        """`work(db)` in a write transaction on the writer thread, batched with the writes
        handed over beside it; returns what it returned, or raises what it raised (its
        changes then undone), once committed (and fsynced when `durable`). `work` may run
        twice (after a rollback) and must use only the connection it is given."""
        self._refuse_if_read_only()
        item = self._writer.write(work, durable)
        if durable and item.error is None and item.commit:
            self._sync_through(item.commit)  # on this thread: the writer goes on meanwhile
        return item.outcome()

    def record(self, work: Work) -> None:
        """`work(db)` written by the writer thread without waiting (seedbed.batch_writer)."""
        self._refuse_if_read_only()
        self._writer.record(work)

    def keep_writer(self) -> None:
        """Start the writer thread now and keep it until close() (`seedbed serve`; see
        BatchWriter.keep)."""
        self._refuse_if_read_only()
        self._writer.keep()

    def writer_thread_id(self) -> int | None:
        """The native id of the writer thread (seedbed.cpu_placement), while it runs."""
        return self._writer.thread_id()

    def settle(self) -> None:
        """Wait until every write and record handed over so far is committed."""
        if not self.read_only:
            self._writer.settle()

    def _refuse_if_read_only(self) -> None:
        if self.read_only:
            raise RuntimeError(f"{self.path} is open for reading only")

    def _commit_batch(self, batch: list[Pending]) -> None:
        """The writer thread's transaction; when a write fails after changing rows, the
        batch is undone and each write runs alone, so a failure undoes only its own."""
        db = self._writer_db
        if db is None:  # one connection for every writer thread there will be, one at a time
            db = self._writer_db = self._connect()
        with self._write_lock:
            if not self._try_batch(db, batch):
                for item in batch:
                    self._try_batch(db, [item])

    def _try_batch(self, db: sqlite3.Connection, batch: list[Pending]) -> bool:
        """Commit the batch and True; or False, rolled back, when one of several writes
        raised after changing rows (their outcomes are then to be made again)."""
        changes = db.total_changes
        db.execute("BEGIN IMMEDIATE")
        try:
            for item in batch:
                before = db.total_changes
                item.result, item.error = None, None
                try:
                    item.result = item.work(db)
                except Exception as exc:  # noqa: BLE001 - handed to the one who queued it
                    item.error = exc
                    if db.total_changes != before:
                        db.execute("ROLLBACK")
                        return len(batch) == 1
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        if db.total_changes != changes:
            self._commits += 1
            for item in batch:
                item.commit = self._commits
        return True

    def _sync_through(self, commit: int) -> None:
        """Return once an fsync of the WAL began after `commit` was written."""
        with self._sync_lock:
            if self._synced >= commit:
                return  # the fsync this thread waited behind covered it
            covered = self._commits  # every commit counted so far is in the WAL
            try:
                fd = os.open(self._wal, os.O_RDONLY)
            except FileNotFoundError:  # checkpointed and removed: SQLite synced the database
                fd = None
            if fd is not None:
                try:
                    os.fsync(fd)
                finally:
                    os.close(fd)
            self._synced = covered

    def read(self) -> sqlite3.Connection:
        return self._connect()


def _private_file(path: Path) -> None:
    """Create the database 0600 (SQLite gives its -wal and -shm files the same mode)."""
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
    for file in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if file.exists():
            os.chmod(file, 0o600)
