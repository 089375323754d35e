"""What every first-boot contributor receives, and how their parts become one cloud-config."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from ..inventory import Inventory, Node
from ..resources import data_file

if TYPE_CHECKING:  # seeds imports this package; the URLs are only used, never built, here
    from ..seeds import SeedUrls

# Keys every contributor may add to: their lists are joined in the listed order.
LIST_KEYS = frozenset({"groups", "users", "packages", "write_files", "runcmd"})


@dataclass(frozen=True)
class Target:
    """One node's first boot: what a contributor may read."""

    inv: Inventory
    node: Node
    urls: SeedUrls
    service_key: str | None = None  # seedbed's own public key (RKE logs in with it)
    cluster_token: str | None = None  # RKE2's join token: in a member's per-install seed only


@cache
def base_config() -> dict[str, Any]:
    """cloud-init/base.yaml: the node-independent keys, beside autoinstall/base.yaml."""
    with data_file("cloud-init", "base.yaml").open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@cache
def file_text(relative: str) -> str:
    """A file under cloud-init/ (files/* are written to the node as they are)."""
    return data_file("cloud-init", relative).read_text(encoding="utf-8")


def merge(parts: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """Join (name, part) in order: list keys append, any other key is one contributor's alone."""
    merged: dict[str, Any] = {}
    owner: dict[str, str] = {}
    for name, part in parts:
        for key, value in part.items():
            if key in LIST_KEYS:
                if not isinstance(value, list):
                    raise TypeError(f"first boot {name}: {key} must be a list")
                merged[key] = [*merged.get(key, []), *value]
            elif key in owner:
                raise ValueError(f"first boot: {owner[key]} and {name} both set {key!r}")
            else:
                merged[key] = value
            owner.setdefault(key, name)
    return merged
