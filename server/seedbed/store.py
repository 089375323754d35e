"""The store's tables and their queries: nodes, installs, events, discovered machines,
admin tokens (the connections, transactions and durability: seedbed.database).

What unauthenticated machines write (discovered MACs, events) is capped
(seedbed.limits): the oldest rows roll off and the number dropped is kept.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from . import limits
from .database import Database


@dataclass(frozen=True)
class NodeRow:
    hostname: str
    state: str
    state_since: float
    armed_until: float | None
    install_id: int | None
    facts: dict[str, Any] | None
    health: list[str]
    last_event: str | None
    last_event_at: float | None


@dataclass(frozen=True)
class InstallRow:
    id: int
    hostname: str
    mac: str
    boot_addr: str | None
    method: str
    state: str
    created_at: float
    expires_at: float
    finished_at: float | None
    log: str | None


@dataclass(frozen=True)
class EventRow:
    id: int
    at: float
    hostname: str | None
    mac: str | None
    install_id: int | None
    kind: str
    message: str
    data: Any


class Store(Database):
    """seedbed's SQLite store; each write method takes the transaction's connection."""

    def _settled(self, settle: bool = True) -> sqlite3.Connection:
        """The reading connection, once the records handed to the writer are in (reads that
        show events, discovered machines or a node's last event)."""
        if settle:
            self.settle()
        return self.read()

    # -- nodes ---------------------------------------------------------------

    def ensure_node(self, db: sqlite3.Connection, hostname: str, state: str, now: float) -> None:
        db.execute(
            "INSERT OR IGNORE INTO nodes (hostname, state, state_since) VALUES (?, ?, ?)",
            (hostname, state, now),
        )

    def node(self, hostname: str, db: sqlite3.Connection | None = None, *,
             settle: bool = True) -> NodeRow | None:
        """The node's row; `settle=False` for a boot decision, which needs only its state
        (records handed to the writer change only its last event)."""
        row = (db or self._settled(settle)).execute(
            "SELECT * FROM nodes WHERE hostname = ?", (hostname,)
        ).fetchone()
        return _node(row) if row else None

    def set_new_node_windows(self, db: sqlite3.Connection, seconds: float) -> None:
        """Nodes never booted are armed for `seconds` from when they entered the inventory."""
        db.execute("UPDATE nodes SET armed_until = state_since + ? WHERE state = 'new'", (seconds,))

    def nodes(self) -> list[NodeRow]:
        rows = self._settled().execute("SELECT * FROM nodes ORDER BY hostname").fetchall()
        return [_node(r) for r in rows]

    def set_node(self, db: sqlite3.Connection, hostname: str, now: float, **fields: Any) -> None:
        """Update a node; a new `state` also moves `state_since`."""
        if "state" in fields:
            fields["state_since"] = now
        for key in ("facts", "health"):
            if key in fields and fields[key] is not None:
                fields[key] = json.dumps(fields[key], sort_keys=True)
        assignments = ", ".join(f"{k} = ?" for k in fields)
        db.execute(f"UPDATE nodes SET {assignments} WHERE hostname = ?",  # noqa: S608 - keys are ours
                   (*fields.values(), hostname))

    # -- installs ------------------------------------------------------------

    def add_install(self, db: sqlite3.Connection, hostname: str, mac: str, token_hash: str,
                    boot_addr: str | None, method: str, now: float,
                    expires_at: float) -> tuple[int, list[InstallRow]]:
        """A new install of `hostname`, and the unfinished ones it supersedes."""
        superseded = [_install(r) for r in db.execute(
            "SELECT * FROM installs WHERE hostname = ? AND state IN ('issued', 'installing', "
            "'installed') ORDER BY id", (hostname,))]
        db.execute(
            "UPDATE installs SET state = 'superseded', finished_at = ? "
            "WHERE hostname = ? AND state IN ('issued', 'installing', 'installed')",
            (now, hostname),
        )
        cur = db.execute(
            "INSERT INTO installs (hostname, mac, token_hash, boot_addr, method, state, created_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, 'issued', ?, ?)",
            (hostname, mac, token_hash, boot_addr, method, now, expires_at),
        )
        # Each boot of an armed node adds an install: keep the newest, whose tokens matter.
        gone = [row[0] for row in db.execute(
            "DELETE FROM installs WHERE hostname = ? AND id <= (SELECT id FROM installs WHERE"
            " hostname = ? ORDER BY id DESC LIMIT 1 OFFSET ?) RETURNING id",
            (hostname, hostname, limits.INSTALLS_PER_NODE)).fetchall()]
        db.executemany("DELETE FROM dropped WHERE scope = ?", [(f"install:{i}",) for i in gone])
        self._count_dropped(db, len(gone), f"installs:{hostname}")
        return int(cur.lastrowid), superseded

    def install_by_token_hash(self, db: sqlite3.Connection,
                              token_hash: str) -> tuple[InstallRow, bool] | None:
        """The install with this token, and whether it is its node's current one (one query:
        every token request asks both)."""
        row = db.execute("SELECT installs.*, nodes.install_id IS installs.id AS current"
                         " FROM installs LEFT JOIN nodes USING (hostname)"
                         " WHERE token_hash = ?", (token_hash,)).fetchone()
        return (_install(row), bool(row["current"])) if row else None

    def install(self, install_id: int) -> InstallRow | None:
        row = self.read().execute("SELECT * FROM installs WHERE id = ?", (install_id,)).fetchone()
        return _install(row) if row else None

    def set_install(self, db: sqlite3.Connection, install_id: int, **fields: Any) -> None:
        assignments = ", ".join(f"{k} = ?" for k in fields)
        db.execute(f"UPDATE installs SET {assignments} WHERE id = ?",  # noqa: S608 - keys are ours
                   (*fields.values(), install_id))

    # -- events --------------------------------------------------------------

    def add_event(self, db: sqlite3.Connection, now: float, kind: str, message: str, *,
                  hostname: str | None = None, mac: str | None = None,
                  install_id: int | None = None, data: Any = None) -> None:
        db.execute(
            "INSERT INTO events (at, hostname, mac, install_id, kind, message, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (now, hostname, mac, install_id, kind, message,
             None if data is None else json.dumps(data, sort_keys=True)),
        )
        if hostname is not None:
            db.execute("UPDATE nodes SET last_event = ?, last_event_at = ? WHERE hostname = ?",
                       (message, now, hostname))
            self._roll_off(db, "hostname = ?", (hostname,), f"node:{hostname}",
                           limits.EVENTS_PER_NODE)
        else:
            self._roll_off(db, "hostname IS NULL", (), "without-node", limits.EVENTS_WITHOUT_NODE)
        if install_id is not None:
            self._roll_off(db, "install_id = ?", (install_id,), f"install:{install_id}",
                           limits.EVENTS_PER_INSTALL)

    def _roll_off(self, db: sqlite3.Connection, where: str, args: tuple, scope: str,
                  keep: int) -> None:
        """Delete the events of one scope older than its newest `keep`, counting them."""
        row = db.execute("SELECT count FROM event_counts WHERE scope = ?", (scope,)).fetchone()
        excess = row["count"] - keep if row else 0
        if excess <= 0:
            return
        cur = db.execute(
            f"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE {where}"  # noqa: S608 - fixed SQL
            " ORDER BY id LIMIT ?)", (*args, excess))
        self._count_dropped(db, cur.rowcount, scope, "events")

    def _count_dropped(self, db: sqlite3.Connection, count: int, *scopes: str) -> None:
        for key in scopes if count > 0 else ():
            db.execute("INSERT INTO dropped (scope, count) VALUES (?, ?) ON CONFLICT (scope)"
                       " DO UPDATE SET count = count + excluded.count", (key, count))

    def dropped(self, scope: str = "events") -> int:
        """How many rows of `scope` rolled off (events, node:HOST, install:ID, without-node,
        discovered)."""
        row = self._settled().execute("SELECT count FROM dropped WHERE scope = ?",
                                      (scope,)).fetchone()
        return int(row["count"]) if row else 0

    def install_events_since(self, db: sqlite3.Connection, install_id: int, kind: str,
                             since: float) -> int:
        return int(db.execute("SELECT COUNT(*) FROM events WHERE install_id = ? AND kind = ?"
                              " AND at > ?", (install_id, kind, since)).fetchone()[0])

    def events(self, hostname: str | None = None, limit: int = 200,
               after_id: int = 0) -> list[EventRow]:
        if hostname is None:
            sql, args = "SELECT * FROM events WHERE id > ?", (after_id,)
        else:
            sql, args = "SELECT * FROM events WHERE hostname = ? AND id > ?", (hostname, after_id)
        rows = self._settled().execute(
            f"SELECT * FROM ({sql} ORDER BY id DESC LIMIT ?) ORDER BY id",  # noqa: S608 - fixed SQL
            (*args, limit),
        ).fetchall()
        return [_event(r) for r in rows]

    def install_events(self, install_id: int) -> list[EventRow]:
        """One install's events, oldest first (at most limits.EVENTS_PER_INSTALL are kept)."""
        rows = self._settled().execute("SELECT * FROM events WHERE install_id = ? ORDER BY id",
                                   (install_id,)).fetchall()
        return [_event(r) for r in rows]

    def finished_installs(self, method: str, limit: int) -> list[InstallRow]:
        """The newest installs of `method` that reached ready (the console's estimates)."""
        rows = self.read().execute("SELECT * FROM installs WHERE method = ? AND state = 'ready'"
                                   " ORDER BY id DESC LIMIT ?", (method, limit)).fetchall()
        return [_install(r) for r in rows]

    # -- discovered machines -------------------------------------------------

    def record_discovered(self, db: sqlite3.Connection, mac: str, now: float,
                          facts: dict[str, str | None]) -> bool:
        """Record a boot from an unknown MAC; True when it was never seen before."""
        cur = db.execute(
            "UPDATE discovered SET last_seen = ?, boots = boots + 1, buildarch = ?, platform = ?,"
            " uuid = ? WHERE mac = ?",
            (now, facts.get("buildarch"), facts.get("platform"), facts.get("uuid"), mac),
        )
        if cur.rowcount:
            return False
        db.execute(
            "INSERT INTO discovered (mac, first_seen, last_seen, boots, buildarch, platform, uuid)"
            " VALUES (?, ?, ?, 1, ?, ?, ?)",
            (mac, now, now, facts.get("buildarch"), facts.get("platform"), facts.get("uuid")),
        )
        # Past the cap the least recently seen roll off; accepted ones go first (they are
        # in the inventory now), so a flood of strangers costs only other strangers' rows.
        cur = db.execute(
            "DELETE FROM discovered WHERE mac IN (SELECT mac FROM discovered ORDER BY"
            " accepted_as IS NULL, last_seen LIMIT max(0, (SELECT COUNT(*) FROM discovered) - ?))",
            (limits.DISCOVERED_MAX,))
        self._count_dropped(db, cur.rowcount, "discovered")
        return True

    def mark_accepted(self, db: sqlite3.Connection, mac: str, hostname: str) -> None:
        db.execute("UPDATE discovered SET accepted_as = ? WHERE mac = ?", (hostname, mac))

    def discovered(self) -> list[dict[str, Any]]:
        """Every discovered machine with its facts (never its report credential)."""
        rows = self._settled().execute(
            "SELECT mac, first_seen, last_seen, boots, buildarch, platform, uuid, accepted_as,"
            " facts, facts_at FROM discovered ORDER BY first_seen").fetchall()
        return [dict(r) | {"facts": _loads(r["facts"]) if r["facts"] else None} for r in rows]

    def set_report_token(self, db: sqlite3.Connection, mac: str, token_hash: str,
                         address: str | None, expires_at: float) -> None:
        """The discovery boot's report credential; a later boot's replaces it."""
        db.execute("UPDATE discovered SET report_token_hash = ?, report_addr = ?,"
                   " report_expires_at = ? WHERE mac = ?", (token_hash, address, expires_at, mac))

    def discovered_by_report_token(self, db: sqlite3.Connection,
                                   token_hash: str) -> sqlite3.Row | None:
        return db.execute("SELECT mac, accepted_as, report_addr, report_expires_at FROM discovered"
                          " WHERE report_token_hash = ?", (token_hash,)).fetchone()

    def set_discovered_facts(self, db: sqlite3.Connection, mac: str, facts: dict[str, Any],
                             now: float) -> None:
        """Store a discovery report; its credential is used up."""
        db.execute("UPDATE discovered SET facts = ?, facts_at = ?, report_token_hash = NULL,"
                   " report_addr = NULL, report_expires_at = NULL WHERE mac = ?",
                   (json.dumps(facts, sort_keys=True), now, mac))

    def has_discovered_facts(self, mac: str) -> bool:
        return self.read().execute("SELECT 1 FROM discovered WHERE mac = ? AND facts IS NOT NULL",
                                   (mac,)).fetchone() is not None

    # -- admin tokens --------------------------------------------------------

    def add_admin_token(self, token_hash: str, label: str) -> None:
        with self.transaction() as db:
            db.execute("INSERT INTO admin_tokens (token_hash, label, created_at) VALUES (?, ?, ?)",
                       (token_hash, label, time.time()))

    def admin_token_label(self, token_hash: str) -> str | None:
        row = self.read().execute(
            "SELECT label FROM admin_tokens WHERE token_hash = ?", (token_hash,)
        ).fetchone()
        return row["label"] if row else None


def _loads(text: str) -> Any:
    """Stored JSON; a NaN or Infinity an older seedbed stored reads as null (never re-emitted)."""
    return json.loads(text, parse_constant=lambda _word: None)


def _node(row: sqlite3.Row) -> NodeRow:
    return NodeRow(
        hostname=row["hostname"], state=row["state"], state_since=row["state_since"],
        armed_until=row["armed_until"], install_id=row["install_id"],
        facts=_loads(row["facts"]) if row["facts"] else None,
        health=_loads(row["health"]) if row["health"] else [],
        last_event=row["last_event"], last_event_at=row["last_event_at"],
    )


def _install(row: sqlite3.Row) -> InstallRow:
    return InstallRow(**{k: row[k] for k in InstallRow.__dataclass_fields__})


def _event(row: sqlite3.Row) -> EventRow:
    return EventRow(
        id=row["id"], at=row["at"], hostname=row["hostname"], mac=row["mac"],
        install_id=row["install_id"], kind=row["kind"], message=row["message"],
        data=_loads(row["data"]) if row["data"] else None,
    )
