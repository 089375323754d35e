"""The store's writer thread: writes and records handed over commit in order, in batches;
a failing write undoes only its own changes; records never make their caller wait; reads
that show records see every record made before them."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from seedbed import batch_writer, limits
from seedbed.store import Store
from support import join_threads


def insert(message: str):  # noqa: ANN201 - a write function
    def work(db) -> int:  # noqa: ANN001
        return db.execute("INSERT INTO events (at, kind, message) VALUES (0, 'test', ?)",
                          (message,)).lastrowid
    return work


def messages(store: Store) -> list[str]:
    return [e.message for e in store.events(limit=10_000)]


def test_writes_and_records_commit_in_the_order_handed_over(tmp_path: Path) -> None:
    store = Store(tmp_path / "seedbed.sqlite3")
    for i in range(50):
        if i % 5 == 4:
            assert store.write(insert(f"w{i}")) > 0
        else:
            store.record(insert(f"r{i}"))
    assert messages(store) == [f"{'w' if i % 5 == 4 else 'r'}{i}" for i in range(50)]


def test_writes_handed_over_together_share_a_commit(tmp_path: Path) -> None:
    store = Store(tmp_path / "seedbed.sqlite3")
    returned: list[int] = []
    with store._write_lock:  # the writer waits here: every write meanwhile queues behind it
        threads = [threading.Thread(target=lambda i=i: returned.append(store.write(insert(f"{i}"))))
                   for i in range(20)]
        for t in threads:
            t.start()
        time.sleep(0.3)
    join_threads(threads, 30, "a writer")
    assert sorted(returned) == list(range(1, 21))
    assert store._commits <= 3, f"{store._commits} commits for 20 writes handed over together"


def test_a_failing_write_undoes_only_its_own_changes(tmp_path: Path) -> None:
    store = Store(tmp_path / "seedbed.sqlite3")
    outcome: dict[str, object] = {}

    def broken(db) -> None:  # noqa: ANN001
        insert("half done")(db)
        raise ValueError("refused after writing")

    def hand_over(name: str, work) -> None:  # noqa: ANN001
        try:
            outcome[name] = store.write(work)
        except ValueError as exc:
            outcome[name] = exc

    with store._write_lock:  # all three in one batch
        threads = [threading.Thread(target=hand_over, args=(name, work))
                   for name, work in (("before", insert("before")), ("broken", broken),
                                      ("after", insert("after")))]
        for t in threads:
            t.start()
            time.sleep(0.05)  # in this order
        store.record(insert("a record"))
    join_threads(threads, 30, "a writer")
    assert isinstance(outcome["broken"], ValueError)
    assert sorted(messages(store)) == ["a record", "after", "before"]


def test_a_record_does_not_wait_for_the_writer(tmp_path: Path) -> None:
    store = Store(tmp_path / "seedbed.sqlite3")
    recorder = threading.Thread(target=lambda: [store.record(insert(f"r{i}")) for i in range(100)],
                                daemon=True)
    with store._write_lock:  # the writer is stuck behind this
        recorder.start()
        recorder.join(timeout=5)
        assert not recorder.is_alive(), "handing over records waited for the writer"
        assert messages_seen_without_settling(store) == []
    assert len(messages(store)) == 100  # events() settles first


def messages_seen_without_settling(store: Store) -> list[str]:
    return [r["message"] for r in store.read().execute("SELECT message FROM events")]


def test_close_writes_what_was_handed_over(tmp_path: Path) -> None:
    store = Store(tmp_path / "seedbed.sqlite3")
    for i in range(200):
        store.record(insert(f"r{i}"))
    store.close()
    assert len(messages(Store(tmp_path / "seedbed.sqlite3"))) == 200


def test_the_idle_writer_thread_ends_and_a_later_write_starts_one(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_writer, "IDLE_SECONDS", 0.1)
    store = Store(tmp_path / "seedbed.sqlite3")
    name = f"store-writer {tmp_path / 'seedbed.sqlite3'}"
    store.write(insert("first"))
    deadline = time.monotonic() + 10
    while any(t.name == name for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(t.name == name for t in threading.enumerate()), "the idle writer stayed"
    store.write(insert("second"))
    assert messages(store) == ["first", "second"]


def test_a_full_queue_makes_records_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "RECORDS_QUEUED_MAX", 5)
    monkeypatch.setattr(batch_writer, "BATCH_MAX", 3)
    store = Store(tmp_path / "seedbed.sqlite3")
    recorder = threading.Thread(target=lambda: [store.record(insert(f"r{i}")) for i in range(20)],
                                daemon=True)
    with store._write_lock:  # the writer is stuck with one batch taken: the queue fills
        recorder.start()
        recorder.join(timeout=1)
        assert recorder.is_alive(), "records went on queueing past the limit"
        assert len(store._writer._queue) <= 6  # five records and the one that waits
    recorder.join(timeout=30)
    assert not recorder.is_alive()
    assert messages(store) == [f"r{i}" for i in range(20)]


def test_a_kept_writer_starts_at_once_and_outlives_idleness(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batch_writer, "IDLE_SECONDS", 0.1)
    store = Store(tmp_path / "seedbed.sqlite3")
    name = f"store-writer {tmp_path / 'seedbed.sqlite3'}"
    store.keep_writer()
    time.sleep(0.5)
    assert [t.name for t in threading.enumerate()].count(name) == 1
    store.record(insert("kept"))
    store.close()
    assert name not in [t.name for t in threading.enumerate()]
    assert messages(Store(tmp_path / "seedbed.sqlite3")) == ["kept"]
