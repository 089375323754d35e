"""The first-boot facts report, and the checks a node must pass before joining the cluster."""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field

from .inventory import Node
from .resources import data_file


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
    secure_boot: SecureBootFacts = SecureBootFacts()


@cache
def accepted_docker_versions() -> tuple[str, ...]:
    with data_file("rke", "versions.yaml").open() as f:
        return tuple(yaml.safe_load(f)["docker_accepted"])


def problems(node: Node, facts: Facts) -> list[str]:
    """Why this node may not join the cluster; empty when healthy."""
    found: list[str] = []
    if facts.hostname.split(".")[0] != node.hostname:
        found.append(f"hostname is {facts.hostname!r}, inventory says {node.hostname!r}")
    if len(facts.gpus) < node.gpus:
        found.append(f"{len(facts.gpus)} GPU(s) seen by nvidia-smi, {node.gpus} expected")
    found.extend(_docker_problems(node, facts.docker))
    if node.gpus and facts.secure_boot.enabled and not facts.secure_boot.nvidia_module:
        found.append("Secure Boot is on and the NVIDIA kernel module is not loaded: only signed "
                     "modules load (Canonical's linux-modules-nvidia-<branch>-server-generic, not DKMS)")
    if facts.swap_kib:
        found.append(f"swap is on ({facts.swap_kib} KiB): Kubernetes needs it off")
    for key, wanted in (("passwordauthentication", "no"), ("permitrootlogin", "no"),
                        ("allowtcpforwarding", "yes")):
        seen = facts.sshd.get(key)
        if seen != wanted:
            found.append(f"sshd {key} is {seen or 'unknown'}, must be {wanted}")
    return found


def _docker_problems(node: Node, docker: DockerFacts) -> list[str]:
    if not docker.version:
        return ["Docker is not installed or not running"]
    found = []
    major_minor = ".".join(docker.version.split(".")[:2])
    if major_minor not in accepted_docker_versions():
        found.append(f"Docker {docker.version} is not a version RKE accepts")
    if node.gpus and docker.default_runtime != "nvidia":
        found.append(f"Docker default runtime is {docker.default_runtime!r}, GPU nodes need 'nvidia'")
    return found
