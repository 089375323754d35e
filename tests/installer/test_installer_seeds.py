"""seedbed's seeds through Ubuntu's own installer (subiquity 23.02.1 dry-run).

Each node's seed is fetched from a live `seedbed serve` on loopback as a machine
would, run by the installer on a described machine, and judged from what the
installer generated: the disk its storage config partitions, the identity and SSH
of the installed system, the network config, the recorded late-/error-commands,
and the webhook events the service recorded for the node.
"""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbed.inventory import normalize_mac
from seedbed.resources import default_inventory
from support import BASE_INVENTORY

from .harness import DryRun, InstallerRunner
from .lab import LiveLab
from .machines import SMALL_SERVER, WORKSTATION, Machine

# examples/lab.yaml's nodes on the workstation: the disk each selector must pick.
EXAMPLE_DISKS = {
    "gpu01": "/dev/nvme1n1",  # model: Samsung SSD 980 PRO 1TB (NVMe: spaces in ID_MODEL)
    "gpu02": "/dev/nvme1n1",  # serial: S5GXNF0R100002 (udev: <model>_<serial>)
    "gpu03": "/dev/sdb",  # size: largest
    "gpu04": "/dev/sdc",  # ssd + smallest: the USB SSD stick (validate warns about it)
}

PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2VydA==\n-----END CERTIFICATE-----\n"
FAILING = "provision.sh"  # the late-command that fetches provision.sh fails


def _node(i: int, hostname: str, disk: dict[str, Any], **extra: Any) -> dict[str, Any]:
    macs = extra.pop("macs", [f"3c:ec:ef:20:00:{i:02x}"])
    return {"hostname": hostname, "macs": macs, "ip": f"10.20.0.{100 + i}",
            "roles": ["worker"], "disk": disk, **extra}


# (hostname, disk selector, machine, expected disk, extra node fields)
CORPUS: list[tuple[str, dict[str, Any], Machine, str, dict[str, Any]]] = [
    ("serial-sata", {"serial": "S6PTNZ0R123456"}, WORKSTATION, "/dev/sda", {}),
    ("serial-nvme", {"serial": "S73WNJ0W500001"}, WORKSTATION, "/dev/nvme0n1",
     {"macs": ["3c:ec:ef:20:01:01", "3c:ec:ef:20:01:02", "3c:ec:ef:20:01:03"]}),
    ("model-sata", {"model": "Samsung SSD 870 EVO 1TB"}, WORKSTATION, "/dev/sda", {}),
    ("model-glob", {"model": "ST4000*"}, WORKSTATION, "/dev/sdb", {}),
    ("model-intel", {"model": "INTEL SSDSC2KB480G8"}, SMALL_SERVER, "/dev/sda", {}),
    ("vendor-size", {"vendor": "ATA", "size": "largest"}, WORKSTATION, "/dev/sdb", {}),
    ("path", {"path": "/dev/sda"}, SMALL_SERVER, "/dev/sda", {}),
    ("ssd-largest", {"ssd": True, "size": "largest"}, WORKSTATION, "/dev/nvme0n1", {}),
    ("size-smallest", {"size": "smallest"}, WORKSTATION, "/dev/sdd", {}),
    ("size-largest-usb", {"size": "largest"}, SMALL_SERVER, "/dev/sdb", {}),
    ("combined", {"model": "Samsung SSD 980 PRO 1TB", "serial": "S5GXNF0R100002", "ssd": True},
     WORKSTATION, "/dev/nvme1n1", {}),
    ("profile-install", {"serial": "PHYF912345AB480BGN"}, SMALL_SERVER, "/dev/sda",
     {"profile": "focal-hwe"}),
]


def corpus_inventory() -> dict[str, Any]:
    data = copy.deepcopy(BASE_INVENTORY)
    data["site"]["apt"] = {"proxy": "x", "mirror": "x"}  # pointed at loopback by the fixture
    data["ldap"] = {"uri": ["ldaps://x"], "base_dn": "dc=lab,dc=test",
                    "bind_dn": "uid=sssd,dc=lab,dc=test", "bind_password": "bind-pw",
                    "ca_cert": PEM, "logins": ["ssh_keys"]}
    data["profiles"] = {"focal-hwe": {"kernel": "ubuntu/hwe-vmlinuz", "initrd": "ubuntu/hwe-initrd",
                                      "cmdline": "ip=dhcp autoinstall", "seed": "autoinstall"}}
    nodes = [_node(i, name, disk, **copy.deepcopy(extra))
             for i, (name, disk, _, _, extra) in enumerate(CORPUS, start=1)]
    nodes.append(_node(len(CORPUS) + 1, "late-fails", {"serial": "S6PTNZ0R123456"}))
    data["nodes"] = data["nodes"][:1] + nodes  # gpu01 keeps the controlplane/etcd roles
    return data


@pytest.fixture(scope="module")
def example_lab(live_lab_factory: Any) -> LiveLab:
    return live_lab_factory(yaml.safe_load(default_inventory().read_text()), "example")


@pytest.fixture(scope="module")
def corpus_lab(live_lab_factory: Any) -> LiveLab:
    return live_lab_factory(corpus_inventory(), "corpus")


def inventory_node(lab: LiveLab, hostname: str) -> dict[str, Any]:
    data = yaml.safe_load(lab.server.inventory.read_text())
    return next(n for n in data["nodes"] if n["hostname"] == hostname)


URL = re.compile(r"https?://([^/:\s'\"]+)")


def assert_seed_talks_only_to_loopback(hostname: str, seed: dict[str, Any]) -> None:
    """Every URL the installer itself uses (not the installed system's) is on loopback."""
    used = yaml.safe_dump({k: seed.get(k) for k in ("reporting", "late-commands", "error-commands",
                                                   "apt", "proxy", "early-commands")})
    hosts = set(URL.findall(used))
    assert hosts == {"127.0.0.1"}, f"{hostname}: the seed under test names {hosts}"


def assert_installed_as_seeded(lab: LiveLab, hostname: str, token: str, seed: dict[str, Any],
                               run: DryRun, disk: str) -> None:
    """Everything the installer generated matches the node, judged stage by stage."""
    assert_seed_talks_only_to_loopback(hostname, seed)
    assert not run.crashed, run.failure(f"{hostname}: the install failed")
    assert run.returncode == 0, run.failure(f"{hostname}: exit {run.returncode}")
    assert run.target_disks() == [disk], run.failure(
        f"{hostname}: storage targets {run.target_disks()}, not {disk}")

    data = yaml.safe_load(lab.server.inventory.read_text())
    admin, node = data["admin"], inventory_node(lab, hostname)
    installed = run.installed_user_data
    users = installed.get("users", [])
    # 23.02.1 merges its identity user into seedbed's own entry for the same admin; 24.04
    # creates the user in the target (useradd, chpasswd) and lists it beside seedbed's.
    assert {u["name"] for u in users} == {admin["username"]}, f"{hostname}: users {users}"
    passwords = [user.get("passwd") or user.get("hashed_passwd") for user in users]
    assert seed["identity"]["password"] in passwords, f"{hostname}: no password hash in {users}"
    assert set(passwords) <= {seed["identity"]["password"], None}, f"{hostname}: users {users}"
    for user in users:
        assert set(admin["ssh_keys"]) <= set(user["ssh_authorized_keys"]), f"{hostname}: keys {user}"
    assert seed["identity"]["password"].startswith("$6$"), f"{hostname}: no crypt hash in the seed"
    assert installed["disable_root"] is True and installed["ssh_pwauth"] is False, (
        f"{hostname}: root or SSH password login left on")
    assert installed["hostname"] == hostname

    ethernets = run.netplan["network"]["ethernets"]
    primary = ethernets["lab0"]
    assert primary["match"]["macaddress"] == normalize_mac(node["macs"][0])
    assert primary["addresses"][0].startswith(f"{node['ip']}/")
    assert len(ethernets) == len(node["macs"]), f"{hostname}: netplan {ethernets}"

    late = [c for c in run.recorded if c[:2] == ["sh", "-c"]]
    assert [c[2] for c in late] == seed["late-commands"], f"{hostname}: late-commands {run.recorded}"
    assert f"/seed/{token}/provision.sh" in late[1][2]
    assert f"/api/v1/callback/{token}/installed" in late[-1][2]
    assert not any("/failed" in c[-1] for c in run.recorded), f"{hostname}: error-commands ran"

    events = [e["message"] for e in lab.events(hostname) if e["kind"] == "install"]
    for expected in ("start subiquity/Install/install", "finish subiquity/Install/install: SUCCESS",
                     "finish subiquity/Late/run: SUCCESS"):
        assert any(m.startswith(expected) for m in events), (
            f"{hostname}: webhook event {expected!r} not recorded; got {events[-10:]}")


@pytest.mark.parametrize("hostname", sorted(EXAMPLE_DISKS))
def test_example_node_installs_onto_the_intended_disk(example_lab: LiveLab, hostname: str) -> None:
    node = inventory_node(example_lab, hostname)
    machine = WORKSTATION.with_macs(node["macs"])
    token, seed, run = example_lab.install(hostname, node["macs"][-1], machine)
    assert_installed_as_seeded(example_lab, hostname, token, seed, run, EXAMPLE_DISKS[hostname])
    print(f"{hostname}: dry-run {run.seconds}s onto {EXAMPLE_DISKS[hostname]}")


@pytest.mark.parametrize("hostname, disk_path", [(c[0], c[3]) for c in CORPUS])
def test_corpus_node_installs_onto_the_intended_disk(corpus_lab: LiveLab, hostname: str,
                                                     disk_path: str) -> None:
    machine_of = {c[0]: c[2] for c in CORPUS}
    node = inventory_node(corpus_lab, hostname)
    token, seed, run = corpus_lab.install(hostname, node["macs"][0],
                                          machine_of[hostname].with_macs(node["macs"]))
    assert_installed_as_seeded(corpus_lab, hostname, token, seed, run, disk_path)
    # The site's apt proxy and mirror reach the installer's apt config.
    apt = run.apt_config["apt"]
    assert apt["http_proxy"] == seed["proxy"] and seed["proxy"].startswith("http://127.0.0.1:")
    assert apt["primary"][0]["uri"] == seed["apt"]["primary"][0]["uri"]
    # LDAP logins reach the installed system's first-boot user-data the installer wrote.
    installed = run.installed_user_data
    sssd = {f["path"]: f["content"] for f in installed["write_files"]}.get("/etc/sssd/sssd.conf", "")
    assert f"ldap_uri = {corpus_lab.runner.blackhole.replace('http://', 'ldaps://')}" in sssd, (
        f"{hostname}: no SSSD config for the site's directory in the installed user-data")
    assert ["systemctl", "enable", "sssd"] in installed["runcmd"]
    print(f"{hostname}: dry-run {run.seconds}s onto {disk_path}")


def test_failing_late_command_runs_the_error_commands(corpus_lab: LiveLab) -> None:
    node = inventory_node(corpus_lab, "late-fails")
    token, seed, run = corpus_lab.install("late-fails", node["macs"][0],
                                          WORKSTATION.with_macs(node["macs"]), fail_command=FAILING)
    assert run.crashed, run.failure("late-fails: a failing late-command did not fail the install")
    commands = [c[-1] for c in run.recorded]
    fetch = next(i for i, c in enumerate(commands) if FAILING in c)
    assert commands[:fetch + 1] == seed["late-commands"][:fetch + 1], commands
    assert not any(c.endswith("/installed") for c in commands), "installed posted after a failure"
    assert commands[fetch + 1:] == seed["error-commands"], run.failure(
        f"late-fails: error-commands not issued after the failure: {commands}")
    assert f"/api/v1/callback/{token}/failed" in commands[-1]
    events = [e["message"] for e in corpus_lab.events("late-fails") if e["kind"] == "install"]
    assert any(m.startswith("finish subiquity/Late/run: FAIL") for m in events), events[-10:]


def test_outbound_http_from_the_installer_ends_at_a_closed_loopback_port(
        installer_runner: InstallerRunner, tmp_path: Path) -> None:
    """The harness's block: a request for a public host never gets past the proxy setting."""
    probe = ("import urllib.request\n"
             "try:\n"
             "    urllib.request.urlopen('http://archive.ubuntu.com/ubuntu/', timeout=5)\n"
             "except OSError as exc:\n"
             "    print('blocked', exc)\n")
    env = installer_runner.env(tmp_path, None)
    result = subprocess.run([str(installer_runner.installer.python), "-c", probe], env=env,
                            capture_output=True, text=True, timeout=30)
    assert "blocked" in result.stdout and "Connection refused" in result.stdout, result
