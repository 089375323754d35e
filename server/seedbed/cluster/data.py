"""The cluster's data files under rke/: pinned versions, the base cluster.yml, chart values;
RKE2's under rke/rke2/."""

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


def rke2_versions() -> dict[str, Any]:
    return copy.deepcopy(_load("rke2/versions.yaml"))


def rke2_ports() -> dict[str, Any]:
    return copy.deepcopy(_load("rke2/ports.yaml"))


def rke2_chart_values(release: str) -> dict[str, Any]:
    """RKE2's overlay on a chart's values (empty when it needs none)."""
    path = data_file("rke", f"rke2/values/{release}.yaml")
    return copy.deepcopy(_load(f"rke2/values/{release}.yaml") or {}) if path.exists() else {}


def rke2_nvidia_runtimeclass() -> list[dict[str, Any]]:
    return _load_all("rke2/nvidia-runtimeclass.yaml")


def minor(version: str) -> tuple[int, int]:
    """(major, minor) of a version such as v1.30.14-rancher1-1 or 1.30."""
    major, minor_part = version.lstrip("v").split(".")[:2]
    return int(major), int(minor_part)


def network_plugin_problem(plugin: str, kubernetes_version: str, engine: str = "rke") -> str | None:
    """Why the engine would refuse this plugin for this Kubernetes version, or None."""
    if engine == "rke2":
        known = rke2_versions()["cni"]
        return None if plugin in known else (
            f"{plugin!r} is not a CNI plugin rke2 deploys: use one of {', '.join(known)}")
    table = versions()["network_plugins"]
    usable = [name for name, limits in table.items()
              if "below" not in (limits or {}) or minor(kubernetes_version) < minor(str(limits["below"]))]
    if plugin not in table:
        return f"{plugin!r} is not a network plugin rke supports: use one of {', '.join(table)}"
    if plugin not in usable:
        return (f"rke refuses {plugin} for Kubernetes >= {table[plugin]['below']} "
                f"({kubernetes_version} here): use one of {', '.join(usable)}")
    return None
