"""Changes seedbed makes to the inventory file itself: adding an accepted machine.

The file stays the one source of truth. Edits are round-tripped with
ruamel.yaml so the admin's comments and layout survive, checked by the same
loader as every other inventory, and replaced atomically with a backup.
Each edit holds a lock (threads and processes alike) from reading the file to
installing the result, and is made against the file as it is on disk then, so
two edits never both start from the same text and one of them lost.
"""

from __future__ import annotations

import contextlib
import fcntl
import io
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML

from .fsutil import atomic_write
from .inventory import LoadedInventory, normalize_mac, parse_inventory

T = TypeVar("T")
_thread_lock = threading.Lock()  # flock is per open file, so threads need their own lock too


class EditConflict(Exception):
    """The edit contradicts what the file on disk says now (e.g. the MAC is already there)."""


@contextmanager
def edit_lock(path: Path) -> Iterator[None]:
    """Exclusive use of the inventory file for one read-modify-write."""
    with _thread_lock, open(path.with_name(f".{path.name}.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def add_node(path: Path, node: dict[str, Any],
             install: Callable[[LoadedInventory], T] = lambda loaded: loaded) -> T:
    """Append a node and pass the result to `install`, both under the edit lock.

    Raises InventoryError (file unchanged) if the result is invalid, EditConflict if the
    file on disk already has the node's MAC or hostname.
    """
    with edit_lock(path):
        yaml = YAML()  # round-trip mode
        yaml.preserve_quotes = True
        document = yaml.load(path.read_text(encoding="utf-8"))
        _check_new(document["nodes"], node, path.name)
        document["nodes"].append(node)
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        loaded = parse_inventory(buffer.getvalue(), source=str(path))
        _replace(path, buffer.getvalue())
        return install(loaded)


def _check_new(nodes: list[Any], node: dict[str, Any], where: str) -> None:
    """EditConflict if the file already holds the node's MAC or hostname (the loader would
    call it a duplicate; a conflict says another edit got there first)."""
    def macs(entry: Any) -> set[str]:
        found = set()
        for mac in entry.get("macs") or [] if isinstance(entry, dict) else []:
            with contextlib.suppress(ValueError):  # the loader reports a malformed one
                found.add(normalize_mac(str(mac)))
        return found

    for entry in nodes:
        if shared := macs(entry) & macs(node):
            raise EditConflict(f"{', '.join(sorted(shared))} is already in {where} as "
                               f"{entry.get('hostname')}")
        if isinstance(entry, dict) and entry.get("hostname") == node.get("hostname"):
            raise EditConflict(f"{where} already has a node named {node.get('hostname')!r}")


def _replace(path: Path, text: str) -> None:
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.bak")
    mode = path.stat().st_mode & 0o777
    atomic_write(backup, path.read_bytes(), mode)
    atomic_write(path, text.encode("utf-8"), mode)
