"""seedbed's 24.04 seeds through Ubuntu 24.04's own installer (subiquity 24.04.4.1 dry-run).

The example inventory with `installer.release: 24.04`, served by a live `seedbed serve`
on loopback: every node's seed is run by the installer and judged as the 20.04 suite
judges its seeds (disk, identity, SSH, network, late-/error-commands, webhook events),
plus what only 24.04 does: it drops unknown top-level keys with a log warning instead
of failing, so its log must name none of ours, and it must take the 24.04 keys.
The same example as 22.04 runs through subiquity 23.02.1 told it installs jammy
(the 23.02 series is the 22.04.2 ISO's installer; no 22.04.5 installer source is kept).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from seedbed.resources import default_inventory

from .harness import DryRun, InstallerRunner
from .lab import LiveLab
from .machines import WORKSTATION
from .test_installer_seeds import EXAMPLE_DISKS, FAILING, assert_installed_as_seeded, inventory_node


def noble_inventory(release: str = "24.04") -> dict[str, Any]:
    data = yaml.safe_load(default_inventory().read_text())
    data["installer"] = {"release": release}  # its files: the release's names under files/
    data["software"] = {k: v for k, v in data["software"].items() if k != "docker_version"}
    return data


@pytest.fixture(scope="module")
def noble_lab(noble_lab_factory: Any) -> LiveLab:
    return noble_lab_factory(noble_inventory(), "noble")


def dropped_keys(run: DryRun) -> list[str]:
    """The log lines where 24.04's installer says it ignored or frowned on part of the seed
    (subiquity/server/server.py: unknown top-level keys are dropped at version 1)."""
    log = (run.output / "subiquity-server-debug.log").read_text(errors="replace")
    return [line for line in log.splitlines()
            if "Unrecognized top-level key" in line or "deprecated values" in line]


@pytest.mark.parametrize("hostname", sorted(EXAMPLE_DISKS))
def test_example_node_installs_with_the_24_04_installer(noble_lab: LiveLab, hostname: str) -> None:
    node = inventory_node(noble_lab, hostname)
    machine = WORKSTATION.with_macs(node["macs"])
    token, seed, run = noble_lab.install(hostname, node["macs"][-1], machine)
    assert_installed_as_seeded(noble_lab, hostname, token, seed, run, EXAMPLE_DISKS[hostname])
    assert dropped_keys(run) == [], run.failure(f"{hostname}: the installer ignored seed keys")
    assert seed["source"] == {"id": "ubuntu-server", "search_drivers": False}
    assert seed["drivers"] == {"install": False} and seed["kernel"] == {"flavor": "generic"}
    print(f"{hostname}: 24.04 dry-run {run.seconds}s onto {EXAMPLE_DISKS[hostname]}")


def test_noble_failing_late_command_runs_the_error_commands(noble_lab_factory: Any) -> None:
    data = noble_inventory()
    node = copy.deepcopy(data["nodes"][3])
    node.update(hostname="late-fails", macs=["3c:ec:ef:10:00:99"], ip="192.168.10.99")
    data["nodes"].append(node)
    lab = noble_lab_factory(data, "noble-fails")
    token, seed, run = lab.install("late-fails", node["macs"][0], WORKSTATION.with_macs(node["macs"]),
                                   fail_command=FAILING)
    assert run.crashed, run.failure("late-fails: a failing late-command did not fail the install")
    commands = [c[-1] for c in run.recorded]
    assert not any(c.endswith("/installed") for c in commands), "installed posted after a failure"
    assert commands[-len(seed["error-commands"]):] == seed["error-commands"], run.failure(
        f"late-fails: error-commands not issued after the failure: {commands}")
    assert f"/api/v1/callback/{token}/failed" in commands[-1]


def test_24_04_drops_a_misspelled_key_with_only_a_warning(noble_lab: LiveLab,
                                                         noble_runner: InstallerRunner) -> None:
    """What the schema check guards against (seedbed refuses to serve such a seed, so the
    document goes to the installer directly): the install succeeds, the commands are lost."""
    node = inventory_node(noble_lab, "gpu03")
    _, seed = noble_lab.seed(node["macs"][0])
    seed["late_commands"] = seed.pop("late-commands")
    run = noble_runner.run(seed, WORKSTATION.with_macs(node["macs"]).probert(),
                           WORKSTATION.rotational(), noble_lab.work / "misspelled")
    assert not run.crashed and run.returncode == 0, run.failure("misspelled key: the install failed")
    assert any("'late_commands'" in line for line in dropped_keys(run)), run.failure("no warning")
    assert not any("/provision.sh" in c[-1] for c in run.recorded), "dropped late-commands ran"



def test_the_lab_mirror_proxy_and_hwe_kernel_reach_the_24_04_installer_s_config(
        noble_lab_factory: Any) -> None:
    """The seed's mirror and proxy (at a closed loopback port) in the apt config 24.04's
    installer writes, and `kernel_flavor: hwe` as the kernel package curtin installs.
    `apt.fallback: abort` is checked by the schema only: in dry-run with a network
    section the installer sees no default route and skips its mirror check."""
    data = noble_inventory()
    data["installer"]["kernel_flavor"] = "hwe"
    data["site"]["apt"] = {"mirror": "x", "proxy": "x"}  # pointed at the closed port
    lab = noble_lab_factory(data, "noble-mirror")
    node = inventory_node(lab, "gpu03")
    token, seed, run = lab.install("gpu03", node["macs"][0], WORKSTATION.with_macs(node["macs"]))
    assert_installed_as_seeded(lab, "gpu03", token, seed, run, EXAMPLE_DISKS["gpu03"])
    assert seed["apt"]["fallback"] == "abort"
    apt = run.apt_config["apt"]
    assert apt["http_proxy"] == seed["proxy"] and seed["proxy"].startswith("http://127.0.0.1:")
    assert apt["primary"][0]["uri"] == seed["apt"]["primary"][0]["uri"]
    curthooks = run.output / "var/log/installer/curtin-install/subiquity-curthooks.conf"
    assert yaml.safe_load(curthooks.read_text())["kernel"] == {"package": "linux-generic-hwe-24.04"}


@pytest.fixture(scope="module")
def jammy_lab(jammy_lab_factory: Any) -> LiveLab:
    return jammy_lab_factory(noble_inventory("22.04"), "jammy")


@pytest.mark.parametrize("hostname", sorted(EXAMPLE_DISKS))
def test_example_node_as_22_04_installs_with_the_23_02_installer(jammy_lab: LiveLab,
                                                                 hostname: str) -> None:
    """22.04 seeds through subiquity 23.02.1 told it installs jammy (the 22.04.2 ISO's
    installer series): the 22.04 keys are taken, the install completes as seeded."""
    node = inventory_node(jammy_lab, hostname)
    token, seed, run = jammy_lab.install(hostname, node["macs"][-1],
                                         WORKSTATION.with_macs(node["macs"]))
    assert_installed_as_seeded(jammy_lab, hostname, token, seed, run, EXAMPLE_DISKS[hostname])
    assert seed["kernel"] == {"flavor": "generic"} and "fallback" not in seed.get("apt", {})
    print(f"{hostname}: 22.04 dry-run (23.02.1) {run.seconds}s onto {EXAMPLE_DISKS[hostname]}")


def test_24_04_with_the_rke2_engine_carries_the_first_boot_part_over(noble_lab_factory: Any) -> None:
    """Issue 14's combination: `installer.release: 24.04` with `cluster.engine: rke2`. The
    first server's seed installs as seeded, and everything its first boot writes and runs
    reaches the installed system's cloud-config the installer writes."""
    data = noble_inventory()
    data["cluster"]["engine"] = "rke2"
    lab = noble_lab_factory(data, "noble-rke2")
    node = inventory_node(lab, "gpu01")
    token, seed, run = lab.install("gpu01", node["macs"][0], WORKSTATION.with_macs(node["macs"]))
    assert_installed_as_seeded(lab, "gpu01", token, seed, run, EXAMPLE_DISKS["gpu01"])
    assert dropped_keys(run) == [], run.failure("gpu01: the installer ignored seed keys")
    installed = run.installed_user_data
    written = {f["path"] for f in installed.get("write_files", [])}
    seeded = {f["path"] for f in seed["user-data"].get("write_files", [])}
    assert seeded <= written, f"first-boot files lost: {sorted(seeded - written)}"
    for command in seed["user-data"].get("runcmd", []):
        assert command in installed["runcmd"], f"first-boot command lost: {command}"
    # 24.04's installer turns cloud-init off once the first boot is over (README: Releases).
    disabled = [f for f in installed["write_files"] if f["path"] == "/etc/cloud/cloud-init.disabled"]
    assert [f.get("defer") for f in disabled] == [True], installed["write_files"]
