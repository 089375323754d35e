"""The rendered seeds: valid for the 20.04 installer, and immune to YAML injection."""

from __future__ import annotations

import json

import pytest
import yaml

from seedbed import seeds
from seedbed.checks import PREVIEW_TOKEN, autoinstall_problems, seed_problems
from seedbed.disks import installer_match
from seedbed.inventory import load_inventory
from seedbed.resources import default_inventory
from support import ADMIN_KEY, inventory_data, inventory_of

URLS = seeds.SeedUrls("http://10.20.0.5:8080", PREVIEW_TOKEN)


def example():  # noqa: ANN201
    return load_inventory(default_inventory()).inventory


@pytest.mark.parametrize("hostname", ["gpu01", "gpu02", "gpu03", "gpu04"])
def test_every_example_node_user_data_passes_the_20_04_checks(hostname: str) -> None:
    inv = example()
    node = inv.node_by_hostname(hostname)
    text = seeds.user_data(inv, node, URLS, "autoinstall")
    assert autoinstall_problems(text) == []
    config = yaml.safe_load(text)["autoinstall"]
    assert config["version"] == 1
    assert config["identity"]["hostname"] == hostname
    assert config["ssh"] == {"install-server": True, "authorized-keys": list(inv.admin.ssh_keys),
                             "allow-pw": False}
    assert config["storage"]["layout"]["match"] == installer_match(node.disk)
    assert config["reporting"]["seedbed"]["endpoint"].endswith(f"/api/v1/report/{PREVIEW_TOKEN}")
    assert f"/api/v1/callback/{PREVIEW_TOKEN}/installed" in config["late-commands"][-1]
    assert all(c.startswith("curtin in-target --target=/target") for c in config["late-commands"]
               if "in-target" in c)
    assert "/callback/" in config["error-commands"][0] and "/failed" in config["error-commands"][0]
    assert config["network"]["ethernets"]["lab0"]["addresses"] == [f"{node.ip}/24"]


def test_the_schema_check_catches_what_20_04_silently_drops() -> None:
    inv = example()
    node = inv.nodes[0]
    document = {"autoinstall": seeds.autoinstall_config(inv, node, URLS)}
    document["autoinstall"]["late_commands"] = document["autoinstall"].pop("late-commands")
    problems = autoinstall_problems(seeds.cloud_config(document))
    assert any("late_commands" in p for p in problems), problems
    del document["autoinstall"]["identity"]["password"]
    assert any("'password' is a required property" in p
               for p in autoinstall_problems(seeds.cloud_config(document)))


def test_first_boot_hardening_and_gpu_daemon_json() -> None:
    inv = example()
    gpu = inv.node_by_hostname("gpu01")
    config = seeds.first_boot_config(inv, gpu, URLS)
    assert config["ssh_pwauth"] is False and config["disable_root"] is True
    files = {f["path"]: f for f in config["write_files"]}
    sshd = files["/etc/ssh/sshd_config.d/10-seedbed.conf"]["content"]
    for line in ("PermitRootLogin no", "PasswordAuthentication no", "AllowTcpForwarding yes"):
        assert line in sshd.splitlines()
    daemon = json.loads(files["/etc/docker/daemon.json"]["content"])
    assert daemon["default-runtime"] == "nvidia"
    assert daemon["runtimes"] == {"nvidia": {"path": "nvidia-container-runtime", "args": []}}
    assert daemon["storage-driver"] == "overlay2" and daemon["features"] == {"buildkit": True}
    assert files["/etc/seedbed/ready.json"]["permissions"] == "0600"
    assert ["passwd", "-l", "root"] in config["runcmd"]
    assert config["runcmd"][-1] == ["python3", seeds.READY_SCRIPT]


def test_no_nvidia_runtime_without_gpus() -> None:
    inv = inventory_of(inventory_data())
    daemon = seeds.docker_daemon_json(inv.node_by_hostname("gpu02"))
    assert "default-runtime" not in daemon and "runtimes" not in daemon
    assert seeds.provision_env(inv, inv.node_by_hostname("gpu02"))["SEEDBED_NVIDIA_DRIVER"] == ""
    assert seeds.provision_env(inv, None)["SEEDBED_NVIDIA_DRIVER"] == "nvidia-driver-535-server"


HOSTILE = "x\nlate-commands: [rm -rf /]\n# {{ evil }} 'q' \"dq\": {a: b} &anchor *alias"


def test_hostile_inventory_values_cannot_change_the_document() -> None:
    data = inventory_data()
    data["nodes"][0]["disk"] = {"model": HOSTILE, "serial": "S'; rm -rf / #"}
    data["admin"]["ssh_keys"] = [ADMIN_KEY.rsplit(" ", 1)[0] + " " + HOSTILE.replace("\n", " ")]
    inv = inventory_of(data)
    node = inv.nodes[0]
    text = seeds.user_data(inv, node, URLS, "autoinstall")
    assert autoinstall_problems(text) == []
    config = yaml.safe_load(text)["autoinstall"]
    assert config["storage"]["layout"]["match"] == {"model": "[ _]".join(HOSTILE.split()),
                                                    "serial": "*_S'; rm -rf / #"}
    assert config["ssh"]["authorized-keys"] == inv.admin.ssh_keys
    assert config["user-data"]["users"][0]["ssh_authorized_keys"] == inv.admin.ssh_keys
    assert set(config) == set(yaml.safe_load(seeds.user_data(
        inventory_of(inventory_data()), node, URLS, "autoinstall"))
        ["autoinstall"])
    assert not any("rm -rf" in c for c in config["late-commands"])


@pytest.mark.parametrize("where,value", [
    (("admin", "username"), "admin\nroot"),
    (("site", "domain"), "lab.test\nevil: 1"),
    (("site", "timezone"), "UTC\nruncmd: [x]"),
    (("site", "ntp"), ["ntp.lab\n- evil"]),
    (("site", "base_url"), "http://nas:8080/ x"),
])
def test_values_that_reach_commands_or_urls_are_refused(where: tuple, value: object) -> None:
    data = inventory_data()
    data[where[0]][where[1]] = value
    with pytest.raises(Exception, match=where[1]):
        inventory_of(data)


def test_provision_script_quotes_its_settings() -> None:
    data = inventory_data(software={"docker_version": "5:24.0.9-1~ubuntu.20.04~focal"})
    data["site"]["apt"] = {"proxy": "http://cache.lab:3142/?a=1&b=$(id)"}
    inv = inventory_of(data)
    script = seeds.provision_script(inv, inv.nodes[0])
    assert "export SEEDBED_APT_PROXY='http://cache.lab:3142/?a=1&b=$(id)'" in script
    assert script.startswith("#!/bin/bash\n") and "set -euo pipefail" in script
    steps = [p.name for p in seeds.provision_steps()]
    assert steps == sorted(steps) and all(f"# --- {s}" in script for s in steps)


def test_validate_renders_and_checks_every_seed() -> None:
    assert seed_problems(example()) == []
