"""What a 22.04 or 24.04 node's autoinstall adds to the 20.04 document (which stays as is).

Only keys the node's release lists (autoinstall/releases.yaml `keys`) are written:
- `source`: ubuntu-server or ubuntu-server-minimal, without the installer's driver search;
- `drivers.install: false`: the NVIDIA driver comes from the provisioning steps, pinned to
  the inventory's server branch with Canonical's signed prebuilt modules for the installed
  kernel flavour; ubuntu-drivers would pick its own branch (and the toolkit follows the pin);
- `kernel.flavor`, `updates`, `shutdown` from the installer section;
- `apt.fallback: abort` with a lab mirror (24.04): a mirror that does not answer fails
  the install, reported by the error-commands, instead of an offline install that the
  provisioning steps' apt would then fail on anyway.
Netplan 0.104+ (22.04 on) deprecates `gateway4`: the default route is a `routes` entry.
"""

from __future__ import annotations

from typing import Any

from .inventory import Inventory, Node
from .releases import Release, node_release, release

SOURCE_IDS = {"server": "ubuntu-server", "minimal": "ubuntu-server-minimal"}


def adapt_to_release(config: dict[str, Any], inv: Inventory, node: Node) -> None:
    """Add the node's release's keys to its autoinstall mapping, in place."""
    release = node_release(inv, node)
    if not release.keys:
        return
    installer = inv.installer
    wanted: dict[str, Any] = {
        "source": {"id": SOURCE_IDS[installer.source], "search_drivers": False},
        "drivers": {"install": False},
        "kernel": {"flavor": installer.kernel_flavor},
        "updates": installer.updates,
        "shutdown": installer.shutdown,
    }
    config.update({key: value for key, value in wanted.items() if release.has(key)})
    if release.has("apt.fallback") and "apt" in config:
        config["apt"]["fallback"] = "abort"
    _default_route(config["network"])


def _default_route(network: dict[str, Any]) -> None:
    for nic in network["ethernets"].values():
        gateway = nic.pop("gateway4", None)
        if gateway is not None:
            nic["routes"] = [{"to": "default", "via": gateway}]


def provision_pins(inv: Inventory, node: Node | None) -> dict[str, str]:
    """The provisioning settings that depend on the release (node None: the site's)."""
    rel = node_release(inv, node) if node is not None else release(inv.installer.release)
    software = inv.software
    return {
        "SEEDBED_UBUNTU_CODENAME": rel.codename,
        "SEEDBED_DOCKER_VERSION": software.docker_version or rel.docker["docker"],
        "SEEDBED_CONTAINERD_VERSION": software.containerd_version or rel.docker["containerd"],
        "SEEDBED_BUILDX_VERSION": software.buildx_version or rel.docker["buildx"],
        "SEEDBED_NVIDIA_MODULES": nvidia_modules_package(software.nvidia_modules, rel,
                                                         inv.installer.kernel_flavor),
    }


def nvidia_modules_package(branch_package: str, rel: Release, kernel_flavor: str) -> str:
    """Canonical's signed prebuilt modules for the installed kernel: the `-generic` package
    tracks linux-generic, the HWE kernel has its own (...-generic-hwe-24.04)."""
    if kernel_flavor == "hwe" and rel.has("kernel"):
        return f"{branch_package}-hwe-{rel.name}"
    return branch_package
