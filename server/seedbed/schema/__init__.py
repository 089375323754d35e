"""The store's SQL schema as numbered files, applied in order by `migrate`.

`NNNN-name.sql` files live beside this module; `PRAGMA user_version` holds the number of the
last one applied. A change to the schema is a new file with the next free number (features own
a range: 0001–0009 the core, 0010 power, 0020 console, 0030 discovery, 0040 boot artifacts), never
an edit of a file that has shipped. Each file runs in one transaction with the version bump, so a
crash leaves the store at the previous version and the file runs again whole."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).parent
_NAME = re.compile(r"^(\d{4})-[a-z0-9-]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    path: Path

    def statements(self) -> list[str]:
        """The file's statements, split where SQLite says one is complete (triggers hold `;`)."""
        statements, pending = [], ""
        for line in self.path.read_text(encoding="utf-8").splitlines(keepends=True):
            pending += line
            if sqlite3.complete_statement(pending):
                statements.append(pending.strip())
                pending = ""
        if pending.strip() and not pending.strip().startswith("--"):
            raise ValueError(f"{self.path.name}: unterminated statement at the end")
        return statements


def migrations(folder: Path = HERE) -> list[Migration]:
    found = [Migration(int(m[1]), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"two schema files share a number in {folder}")
    return found


def migrate(db: sqlite3.Connection, folder: Path = HERE) -> int:
    """Bring the store up to the newest schema; returns its version. Safe when another process
    migrates at the same time: each step re-reads the version under BEGIN IMMEDIATE."""
    for migration in migrations(folder):
        db.execute("BEGIN IMMEDIATE")
        try:
            if version(db) < migration.version:
                _adopt_unversioned(db, migration.version)
                for statement in migration.statements():
                    db.execute(statement)
                db.execute(f"PRAGMA user_version = {migration.version:d}")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")
    return version(db)


def version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _adopt_unversioned(db: sqlite3.Connection, applying: int) -> None:
    """Stores from before versioned schemas: the first release had no installs.boot_addr."""
    if applying != 1 or not db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'installs'").fetchone():
        return
    columns = {row[1] for row in db.execute("PRAGMA table_info(installs)")}
    if "boot_addr" not in columns:
        db.execute("ALTER TABLE installs ADD COLUMN boot_addr TEXT")
