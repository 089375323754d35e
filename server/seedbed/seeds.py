"""The NoCloud seeds a node receives, built as data and serialized, never pasted.

- `first_boot_config`: the installed system's cloud-config, from seedbed.firstboot's
  contributors (identity, firewall, docker, swap, sssd, ssh, apt, ready). It is autoinstall's
  `user-data` on real installs, and the whole user-data for image and
  test-profile boots: one rendering for both.
- `autoinstall_config`: the Ubuntu installer's document (20.04; 22.04/24.04 keys from
  release_seeds).
- `provision_script`: the package steps, shared by late-commands and Packer.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from .disks import installer_match
from .firstboot import first_boot_config, ssh
from .firstboot.docker import daemon_json as docker_daemon_json  # noqa: F401  (re-exported)
from .firstboot.identity import admin_keys
from .firstboot.ready import READY_CONFIG, READY_SCRIPT  # noqa: F401  (re-exported)
from .inventory import Inventory, Node
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


def meta_data(inv: Inventory, node: Node, install_id: int) -> dict[str, Any]:
    # A new instance-id per install makes cloud-init treat every install as a first boot.
    return {"instance-id": f"seedbed-{node.hostname}-{install_id}", "local-hostname": node.hostname}


def provision_env(inv: Inventory, node: Node | None) -> dict[str, str]:
    """Settings for the provisioning steps; node None is the golden image (every driver)."""
    gpu = node is None or node.gpus > 0
    software = inv.software
    env = {
        "SEEDBED_APT_PROXY": inv.site.apt.proxy or "",
        **provision_pins(inv, node),  # the release's codename, Docker pins, NVIDIA modules
        "SEEDBED_NVIDIA_DRIVER": software.nvidia_driver if gpu else "",
        "SEEDBED_NVIDIA_TOOLKIT_VERSION": software.nvidia_toolkit_version,
        "SEEDBED_SSHD_DROP_IN": ssh.DROP_IN,
        "SEEDBED_SSHD_CONFIG": ssh.sshd_config(),
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
                       service_key: str | None = None,
                       cluster_token: str | None = None) -> dict[str, Any]:
    """The `autoinstall:` mapping for the node's release's installer (20.04 by default)."""
    config = copy.deepcopy(_autoinstall_base())
    config["network"] = _network(inv, node)
    config["storage"]["layout"]["match"] = installer_match(node.disk)
    config["identity"] = {"hostname": node.hostname, "username": inv.admin.username,
                          "password": inv.admin.password_hash}
    config["ssh"] = ssh.installer_ssh(admin_keys(inv, service_key))
    if inv.site.apt.proxy:
        config["proxy"] = inv.site.apt.proxy
    if inv.site.apt.mirror:
        config["apt"] = {"geoip": False,
                         "primary": [{"arches": ["default"], "uri": inv.site.apt.mirror}]}
    config["late-commands"] = _late_commands(urls)
    config["error-commands"] = _error_commands(urls)
    config["reporting"] = {"seedbed": {"type": "webhook", "endpoint": urls.report}}
    config["user-data"] = first_boot_config(inv, node, urls, service_key, cluster_token)
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
              service_key: str | None = None, cluster_token: str | None = None) -> str:
    """`service_key`: seedbed's own public key, authorized for the admin user (see admin_keys);
    `cluster_token`: RKE2's join token, for a member's per-install seed (masked when None)."""
    if method == "autoinstall":
        return cloud_config({"autoinstall": autoinstall_config(inv, node, urls, service_key,
                                                               cluster_token)})
    return cloud_config(first_boot_config(inv, node, urls, service_key, cluster_token))


def vendor_data() -> str:
    return cloud_config({})


# A node's NoCloud seed files (the web serves deploy.json beside them for image installs).
SEED_FILES = ("user-data", "meta-data", "vendor-data", "provision.sh")
UserDataRenderer = Callable[[Inventory, Node, SeedUrls, str, "str | None", "str | None"], str]


def seed_file(name: str, inv: Inventory, node: Node, urls: SeedUrls, *, method: str,
              install_id: int, service_key: str | None, cluster_token: str | None = None,
              render_user_data: UserDataRenderer = user_data) -> str:
    """One file of SEED_FILES: what the web serves for a token and `seedbed render` previews.

    `render_user_data`: the service passes its per-inventory cache (seed_texts.SeedTexts).
    """
    if name == "user-data":
        return render_user_data(inv, node, urls, method, service_key, cluster_token)
    if name == "meta-data":
        return to_yaml(meta_data(inv, node, install_id))
    if name == "vendor-data":
        return vendor_data()
    if name == "provision.sh":
        return provision_script(inv, node)
    raise ValueError(f"no seed file {name!r}; there are {', '.join(SEED_FILES)}")
