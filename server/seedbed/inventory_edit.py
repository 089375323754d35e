"""Changes seedbed makes to the inventory file itself: adding an accepted machine.

The file stays the one source of truth. Edits are round-tripped with
ruamel.yaml so the admin's comments and layout survive, checked by the same
loader as every other inventory, and replaced atomically with a backup.
Each edit holds a lock (threads and processes alike) from reading the file to
installing the result, and is made against the file as it is on disk then, so
two edits never both start from the same text and one of them lost.
"""

from __future__ import annotations

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
        text = path.read_text(encoding="utf-8")
        current = parse_inventory(text, source=str(path)).inventory
        macs = [normalize_mac(m) for m in node.get("macs") or []]
        if holder := next((current.node_by_mac(m) for m in macs if current.node_by_mac(m)), None):
            raise EditConflict(f"{', '.join(macs)} is already in {path.name} as {holder.hostname}")
        if current.node_by_hostname(str(node.get("hostname"))) is not None:
            raise EditConflict(f"{path.name} already has a node named {node.get('hostname')!r}")
        yaml = YAML()  # round-trip mode
        yaml.preserve_quotes = True
        document = yaml.load(text)
        document["nodes"].append(node)
        buffer = io.StringIO()
        yaml.dump(document, buffer)
        loaded = parse_inventory(buffer.getvalue(), source=str(path))
        _replace(path, buffer.getvalue())
        return install(loaded)


def _replace(path: Path, text: str) -> None:
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.bak")
    mode = path.stat().st_mode & 0o777
    atomic_write(backup, path.read_bytes(), mode)
    atomic_write(path, text.encode("utf-8"), mode)
