"""Where the text formats live: the checkout's top-level folders, or the wheel's copy."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def data_dir(name: str) -> Path:
    """`autoinstall`, `cloud-init`, `rke`, `packer` or `examples`."""
    for candidate in (_PACKAGE / "_data" / name, _PACKAGE.parent.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"seedbed data folder {name!r} is missing from this installation")


def data_file(name: str, relative: str) -> Path:
    return data_dir(name) / relative


def default_inventory() -> Path:
    return data_file("examples", "lab.yaml")
