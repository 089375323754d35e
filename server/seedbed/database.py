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
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from . import limits, schema


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
        """Close every thread's connection (the last one out checkpoints the WAL away)."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for db in opened:
            db.close()
        self._local = threading.local()

    @contextmanager
    def transaction(self, durable: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction; BEGIN IMMEDIATE so check-then-write is atomic.
        `durable=False` for records that need not be fsynced before the answer (module doc)."""
        if self.read_only:
            raise RuntimeError(f"{self.path} is open for reading only")
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
