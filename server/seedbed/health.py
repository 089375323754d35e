"""The first-boot facts report, and the checks a node must pass before joining the cluster."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from . import firstboot
from .inventory import Inventory, Node


class _Facts(BaseModel):
    # Reports may come from a newer node script: extra keys are kept, not rejected.
    model_config = ConfigDict(extra="allow")


class Gpu(_Facts):
    name: str = ""
    driver: str | None = None
    memory_mib: int | None = None


class DockerFacts(_Facts):
    version: str | None = None
    default_runtime: str | None = None
    runtimes: list[str] = []


class Rke2Facts(_Facts):
    install_failed: str | None = None  # the failed step and its last lines
    containerd_running: bool = False
    containerd_runtimes: list[str] = []


class SecureBootFacts(_Facts):
    firmware: str | None = None  # uefi or bios
    enabled: bool | None = None  # from the SecureBoot efivar; None: unknown
    nvidia_module: bool = False  # /sys/module/nvidia: the driver's kernel module loaded


class Facts(_Facts):
    hostname: str
    fqdn: str | None = None
    os: str | None = None
    kernel: str | None = None
    gpus: list[Gpu] = []
    nvidia_smi: bool = False
    docker: DockerFacts = DockerFacts()
    sshd: dict[str, str] = Field(default_factory=dict)
    swap_kib: int = 0
    firewall: dict[str, Any] = Field(default_factory=dict)
    rke2: Rke2Facts = Rke2Facts()  # RKE2 nodes only
    secure_boot: SecureBootFacts = SecureBootFacts()


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    """Why this node may not join the cluster; empty when healthy.

    Each first-boot contributor checks the facts of the part it wrote
    (seedbed.firstboot.CONTRIBUTORS, in their listed order).
    """
    return firstboot.problems(inv, node, facts)
