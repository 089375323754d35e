"""The NoCloud seeds a node receives, built as data and serialized, never pasted.

- `first_boot_config`: the installed system's cloud-config (hostname, admin,
  hardening, daemon.json, firewall, the ready report). It is autoinstall's
  `user-data` on real installs, and the whole user-data for image and
  test-profile boots: one rendering for both.
- `autoinstall_config`: the Ubuntu installer's document (20.04; 22.04/24.04 keys from
  release_seeds).
- `provision_script`: the package steps, shared by late-commands and Packer.
"""

from __future__ import annotations

import copy
import json
import shlex
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .disks import installer_match
from .firewall import ufw_commands
from .inventory import Inventory, Node
from .lan.sssd import add_directory_logins
from .release_seeds import adapt_to_release, provision_pins
from .resources import data_dir, data_file

try:  # the C emitter is much faster; the output is the same
    from yaml import CSafeDumper as _BaseDumper
except ImportError:  # pragma: no cover - libyaml missing
    from yaml import SafeDumper as _BaseDumper  # type: ignore[assignment]


class _Dumper(_BaseDumper):  # type: ignore[misc,valid-type]
    """Multi-line strings (scripts, config files) as readable literal blocks."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)

READY_SCRIPT = "/usr/local/lib/seedbed/seedbed-ready.py"
READY_CONFIG = "/etc/seedbed/ready.json"


@dataclass(frozen=True)
class SeedUrls:
    """Where a node's install talks back; each carries the install's token."""

    base: str
    token: str

    @property
    def seed(self) -> str:
        return f"{self.base}/seed/{self.token}/"

    @property
    def report(self) -> str:
        return f"{self.base}/api/v1/report/{self.token}"

    def callback(self, outcome: str) -> str:
        return f"{self.base}/api/v1/callback/{self.token}/{outcome}"


def to_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, default_flow_style=False, sort_keys=False,
                     allow_unicode=True, width=10_000)


def cloud_config(data: dict[str, Any]) -> str:
    return "#cloud-config\n" + to_yaml(data)


@cache
def _text(folder: str, name: str) -> str:
    return data_file(folder, name).read_text(encoding="utf-8")


@cache
def _autoinstall_base() -> dict[str, Any]:
    return yaml.safe_load(_text("autoinstall", "base.yaml"))


def docker_daemon_json(node: Node) -> dict[str, Any]:
    """The lab's /etc/docker/daemon.json: overlay2 and buildkit, plus the nvidia runtime on GPU nodes."""
    daemon = json.loads(_text("cloud-init", "files/docker-daemon.json"))
    if node.gpus:
        daemon.update(json.loads(_text("cloud-init", "files/docker-daemon-nvidia.json")))
    return daemon


def meta_data(inv: Inventory, node: Node, install_id: int) -> dict[str, Any]:
    # A new instance-id per install makes cloud-init treat every install as a first boot.
    return {"instance-id": f"seedbed-{node.hostname}-{install_id}", "local-hostname": node.hostname}


def admin_keys(inv: Inventory, service_key: str | None) -> list[str]:
    """The admin's authorized_keys: the inventory's keys plus seedbed's own (RKE logs in with it)."""
    keys = list(inv.admin.ssh_keys)
    if service_key and service_key not in keys:
        keys.append(service_key)
    return keys


def first_boot_config(inv: Inventory, node: Node, urls: SeedUrls,
                      service_key: str | None = None) -> dict[str, Any]:
    admin = inv.admin
    config: dict[str, Any] = {
        "hostname": node.hostname,
        "fqdn": inv.fqdn(node),
        "prefer_fqdn_over_hostname": False,
        "manage_etc_hosts": True,
        "timezone": inv.site.timezone,
        "groups": ["docker"],
        "users": [{
            "name": admin.username,
            "gecos": "seedbed admin",
            "groups": ["adm", "sudo", "docker"],
            "shell": "/bin/bash",
            "lock_passwd": False,
            "hashed_passwd": admin.password_hash,
            "ssh_authorized_keys": admin_keys(inv, service_key),
        }],
        "disable_root": True,
        "ssh_pwauth": False,
        "write_files": _first_boot_files(inv, node, urls),
        "runcmd": _first_boot_commands(inv, node),
    }
    if inv.site.ntp:
        config["ntp"] = {"enabled": True, "servers": list(inv.site.ntp)}
    add_directory_logins(config, inv)
    return config


def _first_boot_files(inv: Inventory, node: Node, urls: SeedUrls) -> list[dict[str, Any]]:
    ready = {"url": urls.callback("ready"), "hostname": node.hostname}
    return [
        {"path": "/etc/ssh/sshd_config.d/10-seedbed.conf", "permissions": "0644",
         "content": _text("cloud-init", "files/sshd-hardening.conf")},
        {"path": "/etc/docker/daemon.json", "permissions": "0644",
         "content": json.dumps(docker_daemon_json(node), indent=2, sort_keys=True) + "\n"},
        {"path": "/etc/apt/apt.conf.d/20auto-upgrades", "permissions": "0644",
         "content": _text("cloud-init", "files/auto-upgrades.conf")},
        {"path": READY_SCRIPT, "permissions": "0755",
         "content": _text("cloud-init", "files/seedbed-ready.py")},
        {"path": READY_CONFIG, "permissions": "0600", "content": json.dumps(ready) + "\n"},
    ]


def _first_boot_commands(inv: Inventory, node: Node) -> list[Any]:
    user = inv.admin.username
    firewall = "; ".join(shlex.join(argv) for argv in ufw_commands(inv.site.subnet))
    return [
        ["passwd", "-l", "root"],
        ["usermod", "-aG", "docker", user],
        # Kubernetes wants swap off, for good: the 20.04 installer always makes /swap.img.
        ["sh", "-c", "swapoff -a; sed -i -E '/^[^#].*\\sswap\\s/d' /etc/fstab; rm -f /swap.img"],
        # The distribution's sshd_config includes sshd_config.d first; reload to apply it.
        ["sh", "-c", "systemctl restart ssh || systemctl restart sshd"],
        ["sh", "-c", f"if command -v ufw >/dev/null; then {firewall}; fi"],
        ["sh", "-c", "if systemctl cat docker.service >/dev/null 2>&1; then systemctl restart docker; fi"],
        ["python3", READY_SCRIPT],
    ]


def provision_env(inv: Inventory, node: Node | None) -> dict[str, str]:
    """Settings for the provisioning steps; node None is the golden image (every driver)."""
    gpu = node is None or node.gpus > 0
    software = inv.software
    env = {
        "SEEDBED_APT_PROXY": inv.site.apt.proxy or "",
        **provision_pins(inv, node),  # the release's codename, Docker pins, NVIDIA modules
        "SEEDBED_NVIDIA_DRIVER": software.nvidia_driver if gpu else "",
        "SEEDBED_NVIDIA_TOOLKIT_VERSION": software.nvidia_toolkit_version,
    }
    if not gpu:
        env["SEEDBED_NVIDIA_MODULES"] = ""
    return env


def provision_steps() -> list[Path]:
    return sorted(p for p in (data_dir("autoinstall") / "provision").glob("[0-9]*.sh"))


def provision_script(inv: Inventory, node: Node | None) -> str:
    parts = [_text("autoinstall", "provision/header.sh")]
    parts += [f"export {k}={shlex.quote(v)}\n" for k, v in provision_env(inv, node).items()]
    for step in provision_steps():
        parts.append(f"\n# --- {step.name}\n" + step.read_text(encoding="utf-8"))
    return "".join(parts)


def autoinstall_config(inv: Inventory, node: Node, urls: SeedUrls,
                       service_key: str | None = None) -> dict[str, Any]:
    """The `autoinstall:` mapping for the node's release's installer (20.04 by default)."""
    config = copy.deepcopy(_autoinstall_base())
    config["network"] = _network(inv, node)
    config["storage"]["layout"]["match"] = installer_match(node.disk)
    config["identity"] = {"hostname": node.hostname, "username": inv.admin.username,
                          "password": inv.admin.password_hash}
    config["ssh"] = {"install-server": True, "authorized-keys": admin_keys(inv, service_key),
                     "allow-pw": False}
    if inv.site.apt.proxy:
        config["proxy"] = inv.site.apt.proxy
    if inv.site.apt.mirror:
        config["apt"] = {"geoip": False,
                         "primary": [{"arches": ["default"], "uri": inv.site.apt.mirror}]}
    config["late-commands"] = _late_commands(urls)
    config["error-commands"] = _error_commands(urls)
    config["reporting"] = {"seedbed": {"type": "webhook", "endpoint": urls.report}}
    config["user-data"] = first_boot_config(inv, node, urls, service_key)
    adapt_to_release(config, inv, node)  # 22.04/24.04 keys; a 20.04 seed is left as is
    return config


def _network(inv: Inventory, node: Node) -> dict[str, Any]:
    site = inv.site
    ethernets: dict[str, Any] = {}
    for i, mac in enumerate(node.macs):
        nic: dict[str, Any] = {"match": {"macaddress": mac}, "set-name": f"lab{i}"}
        if i == 0:
            nic.update({
                "addresses": [f"{node.ip}/{site.subnet.prefixlen}"],
                "gateway4": str(site.gateway),
                "nameservers": {"addresses": [str(a) for a in site.dns], "search": [site.domain]},
            })
        else:
            # No address here: an unplugged port must not hold the boot for networkd's wait.
            nic.update({"dhcp4": False, "optional": True})
        ethernets[f"lab{i}"] = nic
    return {"version": 2, "ethernets": ethernets}


def _late_commands(urls: SeedUrls) -> list[str]:
    target_script = "/target/var/lib/seedbed/provision.sh"
    fetch = "curl -fsS --retry 5 --retry-connrefused"
    post = "curl -fsS --retry 10 --retry-connrefused --retry-max-time 300 -X POST"
    return [
        "mkdir -p /target/var/lib/seedbed",
        f"{fetch} -o {target_script} {shlex.quote(urls.seed + 'provision.sh')}",
        "curtin in-target --target=/target -- bash /var/lib/seedbed/provision.sh",
        # Last: tell seedbed the installer finished, so the next PXE boot is the local disk.
        # Not fatal: the install is done, and a lost post must not run the error-commands
        # (they would report `failed`); the first boot's ready report follows it anyway.
        f"{post} {shlex.quote(urls.callback('installed'))}"
        " || echo 'seedbed: the installed report did not arrive; first boot reports ready' >&2",
    ]


def _error_commands(urls: SeedUrls) -> list[str]:
    logs = "/var/log/installer/subiquity-server-debug.log /var/log/installer/curtin-install.log"
    return [
        f"tail -q -n 300 {logs} 2>/dev/null | curl -fsS --retry 5 -X POST "
        f"-H 'Content-Type: text/plain' --data-binary @- {shlex.quote(urls.callback('failed'))}",
    ]


def user_data(inv: Inventory, node: Node, urls: SeedUrls, method: str,
              service_key: str | None = None) -> str:
    """`service_key`: seedbed's own public key, authorized for the admin user (see admin_keys)."""
    if method == "autoinstall":
        return cloud_config({"autoinstall": autoinstall_config(inv, node, urls, service_key)})
    return cloud_config(first_boot_config(inv, node, urls, service_key))


def vendor_data() -> str:
    return cloud_config({})
