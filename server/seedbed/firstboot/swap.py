"""Swap off, for good: Kubernetes wants it off, and the 20.04 installer always makes /swap.img."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..inventory import Inventory, Node
from .base import Target

if TYPE_CHECKING:
    from ..health import Facts

SWAP_OFF = "swapoff -a; sed -i -E '/^[^#].*\\sswap\\s/d' /etc/fstab; rm -f /swap.img"


def config(target: Target) -> dict[str, Any]:
    return {"runcmd": [["sh", "-c", SWAP_OFF]]}


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    if facts.swap_kib:
        return [f"swap is on ({facts.swap_kib} KiB): Kubernetes needs it off"]
    return []
