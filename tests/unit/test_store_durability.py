"""Group commit: a durable transaction returns only after an fsync of the WAL that covers it,
and writers that commit while an fsync runs share the next one."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from seedbed.store import Store
from support import run_threads

WRITERS, EACH = 16, 10
SLOW_DISK = 0.005  # seconds per fsync: what this machine's disk takes, give or take


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Every fsync seedbed makes, slowed down; each entry is the last event id it covered."""
    covered: list[int] = []
    real = os.fsync
    db_path = tmp_path / "seedbed.sqlite3"

    def slow_fsync(fd: int) -> None:
        with sqlite3.connect(db_path) as peek:  # what is committed when the fsync starts
            last = peek.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
        time.sleep(SLOW_DISK)
        real(fd)
        covered.append(last)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    return covered


def insert_event(db: sqlite3.Connection) -> int:
    return db.execute("INSERT INTO events (at, kind, message) VALUES (?, 'test', 'x')",
                      (time.time(),)).lastrowid


def write_events(store: Store, durable: bool, fsyncs: list[int],
                 returned: list[tuple[int, int]], through_writer: bool) -> None:
    """(event id, the last id any finished fsync covered when its transaction returned)."""
    for _ in range(EACH):
        if through_writer:
            row = store.write(insert_event, durable=durable)
        else:
            with store.transaction(durable=durable) as db:
                row = insert_event(db)
        returned.append((row, max(fsyncs, default=0)))


def run_writers(store: Store, durable: bool, fsyncs: list[int],
                through_writer: bool = False) -> list[tuple[int, int]]:
    returned: list[tuple[int, int]] = []
    threads = [threading.Thread(target=write_events,
                                args=(store, durable, fsyncs, returned, through_writer))
               for _ in range(WRITERS)]
    run_threads(threads, 60, "a writer")
    return returned


@pytest.mark.parametrize("through_writer", [False, True], ids=["transaction", "writer-thread"])
def test_durable_commits_wait_for_a_covering_fsync_and_share_it(
        tmp_path: Path, fsyncs: list[int], through_writer: bool) -> None:
    store = Store(tmp_path / "seedbed.sqlite3")
    returned = run_writers(store, durable=True, fsyncs=fsyncs, through_writer=through_writer)
    assert len(returned) == WRITERS * EACH
    for row, covered in returned:
        assert covered >= row, f"event {row} was acknowledged before an fsync covered it"
    count = store.read().execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert count == WRITERS * EACH
    assert len(fsyncs) < WRITERS * EACH / 2, \
        f"{len(fsyncs)} fsyncs for {WRITERS * EACH} commits: concurrent commits did not share them"


def test_records_wait_for_no_fsync(tmp_path: Path, fsyncs: list[int]) -> None:
    store = Store(tmp_path / "seedbed.sqlite3")
    run_writers(store, durable=False, fsyncs=fsyncs)
    assert fsyncs == []
    with store.transaction() as db:
        db.execute("INSERT INTO events (at, kind, message) VALUES (0, 'test', 'durable')")
    assert len(fsyncs) == 1 and fsyncs[0] == WRITERS * EACH + 1, "a durable commit covers the records"


def test_a_transaction_that_writes_nothing_waits_for_no_fsync(tmp_path: Path,
                                                               fsyncs: list[int]) -> None:
    store = Store(tmp_path / "seedbed.sqlite3")
    with store.transaction() as db:
        db.execute("SELECT 1 FROM events").fetchall()
    assert fsyncs == []
