"""The installed system's first boot, one contributor per concern (cloud-init's cc_* modules).

Each contributor is a module with `config(target)` (its part of the cloud-config) and
`problems(inv, node, facts)` (what the ready report's facts say is wrong with its part).
CONTRIBUTORS is the one listed order: their parts are merged in it over
cloud-init/base.yaml, and seedbed.health runs their checks in it. A new hardening step
is one module and one entry here.
"""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..inventory import Inventory, Node
from . import apt, docker, firewall, identity, ready, rke2, secureboot, ssh, sssd, swap
from .base import Target, base_config, merge

if TYPE_CHECKING:
    from ..health import Facts
    from ..seeds import SeedUrls

# runcmd runs in this order too: the firewall before Docker's restart (Docker adds its own
# rules), sssd before ssh (ssh's restart loads sssd's sshd settings), RKE2's install once the
# node is set up (its containerd after the firewall), the ready report last.
# health reports problems in this order (the host name first, then GPUs and Docker).
CONTRIBUTORS: list[ModuleType] = [identity, firewall, docker, secureboot, swap, sssd, ssh, apt, rke2,
                                   ready]


def _name(contributor: ModuleType) -> str:
    return contributor.__name__.rsplit(".", 1)[-1]


def first_boot_config(inv: Inventory, node: Node, urls: SeedUrls,
                      service_key: str | None = None,
                      cluster_token: str | None = None) -> dict[str, Any]:
    target = Target(inv, node, urls, service_key, cluster_token)
    parts = [("base.yaml", base_config())]
    parts += [(_name(c), c.config(target)) for c in CONTRIBUTORS]
    return merge(parts)


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    """Why this node may not join the cluster; empty when healthy."""
    return [p for c in CONTRIBUTORS for p in c.problems(inv, node, facts)]


__all__ = ["CONTRIBUTORS", "Target", "first_boot_config", "problems"]
