"""Secure Boot on the installed system: the ready report says whether the firmware booted
with it on and whether the NVIDIA module loaded under it (seedbed-ready.py reads efivars).
Only signed modules load then: Canonical's prebuilt ones, not a DKMS build."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..inventory import Inventory, Node
from .base import Target

if TYPE_CHECKING:
    from ..health import Facts


def config(target: Target) -> dict[str, Any]:
    return {}  # the facts come from the ready script (ready.py)


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    if node.gpus and facts.secure_boot.enabled and not facts.secure_boot.nvidia_module:
        return ["Secure Boot is on and the NVIDIA kernel module is not loaded: only signed modules "
                "load (Canonical's linux-modules-nvidia-<branch>-server-generic, not DKMS)"]
    return []
