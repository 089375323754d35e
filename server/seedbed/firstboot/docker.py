"""Docker's daemon.json (overlay2, buildkit; the NVIDIA runtime by default on GPU nodes),
the admin in the docker group, and the checks RKE needs of Docker and the GPUs."""

from __future__ import annotations

import json
from functools import cache
from typing import TYPE_CHECKING, Any

import yaml

from ..inventory import Inventory, Node
from ..resources import data_file
from . import rke2
from .base import Target, file_text

if TYPE_CHECKING:
    from ..health import DockerFacts, Facts


@cache
def accepted_docker_versions() -> tuple[str, ...]:
    with data_file("rke", "versions.yaml").open() as f:
        return tuple(yaml.safe_load(f)["docker_accepted"])


def daemon_json(node: Node) -> dict[str, Any]:
    """The lab's /etc/docker/daemon.json: overlay2 and buildkit, plus the nvidia runtime on GPU nodes."""
    daemon = json.loads(file_text("files/docker-daemon.json"))
    if node.gpus:
        daemon.update(json.loads(file_text("files/docker-daemon-nvidia.json")))
    return daemon


def config(target: Target) -> dict[str, Any]:
    content = json.dumps(daemon_json(target.node), indent=2, sort_keys=True) + "\n"
    return {
        "groups": ["docker"],
        "write_files": [{"path": "/etc/docker/daemon.json", "permissions": "0644", "content": content}],
        "runcmd": [
            ["usermod", "-aG", "docker", target.inv.admin.username],
            # Docker is installed by the provisioning steps; a test-profile boot may lack it.
            ["sh", "-c",
             "if systemctl cat docker.service >/dev/null 2>&1; then systemctl restart docker; fi"],
        ],
    }


def problems(inv: Inventory, node: Node, facts: Facts) -> list[str]:
    found = []
    if len(facts.gpus) < node.gpus:
        found.append(f"{len(facts.gpus)} GPU(s) seen by nvidia-smi, {node.gpus} expected")
    if rke2.uses_rke2(inv):
        return found  # RKE2 runs its own containerd (firstboot.rke2): Docker is the users' own
    return found + _docker_problems(node, facts.docker)


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
