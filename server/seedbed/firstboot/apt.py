"""Unattended security upgrades (the packages come from the provisioning steps)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..inventory import Inventory, Node
from .base import Target, file_text

if TYPE_CHECKING:
    from ..health import Facts


def config(target: Target) -> dict[str, Any]:
    return {"write_files": [{"path": "/etc/apt/apt.conf.d/20auto-upgrades", "permissions": "0644",
                             "content": file_text("files/auto-upgrades.conf")}]}


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    return []
