"""Cluster assembly: ready nodes become an RKE cluster, then the Helm add-ons are installed."""

from __future__ import annotations

from .manager import ClusterManager
from .options import ClusterOptions

__all__ = ["ClusterManager", "ClusterOptions"]
