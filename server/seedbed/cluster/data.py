"""The cluster's data files under rke/: pinned versions, the base cluster.yml, chart values."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import yaml

from ..resources import data_file


@cache
def _load(relative: str) -> Any:
    with data_file("rke", relative).open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def _load_all(relative: str) -> list[Any]:
    with data_file("rke", relative).open(encoding="utf-8") as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def versions() -> dict[str, Any]:
    return copy.deepcopy(_load("versions.yaml"))


def base_cluster_yml() -> dict[str, Any]:
    return copy.deepcopy(_load("cluster.yml"))


def chart_values(release: str) -> dict[str, Any]:
    return copy.deepcopy(_load(f"values/{release}.yaml") or {})


def metallb_pool() -> list[dict[str, Any]]:
    return _load_all("metallb-pool.yaml")
