"""The per-scope event counts the roll-off reads: kept by triggers, counted once for old stores."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from seedbed import limits, schema
from seedbed.store import Store


def _add(store: Store, count: int, hostname: str | None, install_id: int | None) -> None:
    with store.transaction(durable=False) as db:
        for i in range(count):
            store.add_event(db, float(i), "seed", f"event {i}", hostname=hostname,
                            install_id=install_id)


def _counts(store: Store) -> dict[str, int]:
    return {r["scope"]: r["count"] for r in store.read().execute("SELECT * FROM event_counts")}


def _actual(store: Store) -> dict[str, int]:
    db = store.read()
    found = {f"node:{r[0]}" if r[0] else "without-node": r[1] for r in db.execute(
        "SELECT hostname, COUNT(*) FROM events GROUP BY hostname")}
    found |= {f"install:{r[0]}": r[1] for r in db.execute(
        "SELECT install_id, COUNT(*) FROM events WHERE install_id IS NOT NULL GROUP BY install_id")}
    return found


def test_counts_follow_inserts_and_roll_offs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(limits, "EVENTS_PER_NODE", 7)
    monkeypatch.setattr(limits, "EVENTS_PER_INSTALL", 5)
    monkeypatch.setattr(limits, "EVENTS_WITHOUT_NODE", 4)
    store = Store(tmp_path / "seedbed.db")
    _add(store, 4, "gpu01", 1)
    _add(store, 6, "gpu01", 2)
    _add(store, 9, None, None)
    # the install roll-off takes one more of the node's events
    assert _counts(store) == _actual(store) == {"node:gpu01": 6, "install:1": 1, "install:2": 5,
                                                "without-node": 4}
    assert store.dropped("node:gpu01") == 3 and store.dropped("install:2") == 1
    assert store.dropped("without-node") == 5


def test_a_store_from_before_the_counts_is_counted_once(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "seedbed.db"
    first_release = tmp_path / "schema"  # a store as the release before the counts made it
    first_release.mkdir()
    shutil.copy(Path(schema.__file__).parent / "0001-base.sql", first_release)
    db = sqlite3.connect(path, isolation_level=None)
    schema.migrate(db, first_release)
    db.executemany("INSERT INTO events (at, hostname, install_id, kind, message) VALUES "
                   "(?, ?, ?, 'seed', 'event')",
                   [(float(i), "cpu02", 3) for i in range(12)] + [(12.0, None, None)] * 2)
    db.close()
    store = Store(path)
    assert _counts(store) == _actual(store) == {"node:cpu02": 12, "install:3": 12,
                                                "without-node": 2}
    monkeypatch.setattr(limits, "EVENTS_PER_NODE", 10)
    _add(store, 1, "cpu02", 3)
    assert _counts(store)["node:cpu02"] == 10 == _actual(store)["node:cpu02"]
    assert store.dropped("node:cpu02") == 3
    assert _counts(Store(path)) == _actual(store)  # opened again: not counted twice
