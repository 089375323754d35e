"""Changes seedbed makes to the inventory file itself: adding an accepted machine.

The file stays the one source of truth. Edits are round-tripped with
ruamel.yaml so the admin's comments and layout survive, checked by the same
loader as every other inventory, and replaced atomically with a backup.
"""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from .fsutil import atomic_write
from .inventory import LoadedInventory, parse_inventory


def add_node(path: Path, node: dict[str, Any]) -> LoadedInventory:
    """Append a node; raise InventoryError (and leave the file as it was) if the result is invalid."""
    yaml = YAML()  # round-trip mode
    yaml.preserve_quotes = True
    document = yaml.load(path.read_text(encoding="utf-8"))
    document["nodes"].append(node)
    buffer = io.StringIO()
    yaml.dump(document, buffer)
    text = buffer.getvalue()
    loaded = parse_inventory(text, source=str(path))
    _replace(path, text)
    return loaded


def _replace(path: Path, text: str) -> None:
    backup = path.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.bak")
    mode = path.stat().st_mode & 0o777
    atomic_write(backup, path.read_bytes(), mode)
    atomic_write(path, text.encode("utf-8"), mode)
