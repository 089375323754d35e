"""QEMU guests PXE-booting against a real `seedbed serve`, checked from outside.

One BIOS guest boots all the way (iPXE ROM -> the service's /boot.ipxe over
slirp TFTP -> its per-MAC script -> the Debian test kernel from the boot
profile -> cloud-init with the service's seed -> the ready report), and is then
checked as an administrator would: the admin API and SSH. Short boots cover the
local-disk answer, an unknown MAC, and a superseded token; a UEFI guest runs
the same chain under OVMF. Every wait is bounded and names its stage.

The Debian test image has no Docker and no GPU, so the nodes end `unhealthy`
for exactly those reasons; everything else the health check looks at passes.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from seedbed.inventory import load_inventory
from seedbed.seeds import docker_daemon_json
from support import seed_token

from .image import TestImage
from .lab import ADMIN_PASSWORD, ADMIN_USER, PROFILE, Event, Lab
from .qemu import SSH_OPTIONS, BootStageError, Guest, SshKey, make_ed25519_key

GPU_HOST, GPU_MAC = "gpu-test", "52:54:00:5e:ed:11"  # BIOS, booted to ready
UEFI_HOST, UEFI_MAC = "uefi-test", "52:54:00:5e:ed:12"  # UEFI, booted to ready
STALE_HOST, STALE_MAC = "stale-test", "52:54:00:5e:ed:13"  # its token is superseded mid-boot
UNKNOWN_MAC = "52:54:00:5e:ed:99"  # in no inventory

NODES = [
    {"hostname": GPU_HOST, "macs": [GPU_MAC], "ip": "10.0.2.21",
     "roles": ["controlplane", "etcd", "worker"], "gpus": 1, "profile": PROFILE},
    {"hostname": UEFI_HOST, "macs": [UEFI_MAC], "ip": "10.0.2.22", "roles": ["worker"],
     "profile": PROFILE},
    {"hostname": STALE_HOST, "macs": [STALE_MAC], "ip": "10.0.2.23", "roles": ["worker"],
     "profile": PROFILE},
]

# The lab guide's Docker settings, written out here rather than read from the code under test.
GUIDE_DAEMON_JSON = {
    "storage-driver": "overlay2",
    "features": {"buildkit": True},
    "log-driver": "json-file",
    "log-opts": {"max-size": "100m", "max-file": "3"},
    "default-runtime": "nvidia",
    "runtimes": {"nvidia": {"path": "nvidia-container-runtime", "args": []}},
}
NO_DOCKER = "Docker is not installed or not running"

# Bounds for each stage under TCG on 2 shared cores (a boot to ready takes ~1-2 min).
PXE_TIMEOUT = 240  # power-on -> the per-MAC script request
FETCH_TIMEOUT = 120  # script -> kernel, initrd; and -> the kernel's first console lines
SEED_TIMEOUT = 300  # kernel -> cloud-init fetches the seed
READY_TIMEOUT = 360  # seed -> the ready report
SSH_TIMEOUT = 120

SWAP_ACTIVATED = re.compile(r"Adding \d+k swap on /swap\.img")  # the kernel, at boot
# The kernel logs its command line: the seed URL in it shows which script the guest ran.
CMDLINE = re.compile(r"Command line: (.*ds=nocloud-net;s=\S+/seed/[A-Za-z0-9_-]+/)")


@dataclass
class Booted:
    """A guest the service installed, and what the service recorded for it."""

    guest: Guest
    hostname: str
    install_id: int
    token: str  # its install token, as read from the kernel command line
    cmdline: str
    ready: Event
    stages: dict[str, float] = field(default_factory=dict)


# -- fixtures -------------------------------------------------------------------


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> SshKey:
    return make_ed25519_key(tmp_path_factory.mktemp("ssh"))


@pytest.fixture(scope="module")
def lab(test_image: TestImage, admin_key: SshKey,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    service = Lab(tmp_path_factory.mktemp("lab"), test_image, admin_key.public, NODES)
    service.start()
    yield service
    service.stop()
    print(f"\n[service-boot] seedbed serve log: {service.server.log_path}")


@pytest.fixture(scope="module")
def gpu(lab: Lab, test_image: TestImage, admin_key: SshKey,
        tmp_path_factory: pytest.TempPathFactory,
        boot_timings: dict[str, dict[str, float]]) -> Iterator[Booted]:
    """The GPU node, PXE-booted under BIOS to its ready report and to SSH; shared by the checks."""
    with booted_with_ssh(lab, test_image, admin_key, tmp_path_factory.mktemp("gpu-guest"),
                         GPU_HOST, GPU_MAC) as booted:
        boot_timings["service_boot[bios]"] = booted.stages
        yield booted


@pytest.fixture(autouse=True)
def _time_each_test(request: pytest.FixtureRequest,
                    boot_timings: dict[str, dict[str, float]]) -> Iterator[None]:
    started = time.monotonic()
    yield
    tests = boot_timings.setdefault("service_boot_tests", {})
    tests[request.node.name] = round(time.monotonic() - started, 1)
    print(f"\n[service-boot] {request.node.name}: {tests[request.node.name]}s (excluding shared boots)")


# -- helpers ----------------------------------------------------------------------


def is_install_boot(mac: str) -> Callable[[Event], bool]:
    return lambda e: e["kind"] == "boot" and e["mac"] == mac and "started" in e["message"]


def file_fetches(lab: Lab, name: str) -> int:
    return len(re.findall(rf"seedbed\.http: \S+ GET /files/test/{re.escape(name)} 20[06] ",
                          lab.access_log()))


def kernel_cmdline(g: Guest) -> str:
    return g.wait_for_console(CMDLINE.pattern, FETCH_TIMEOUT, "kernel did not start").group(1)


def boot_to_ready(lab: Lab, g: Guest, hostname: str, mac: str) -> Booted:
    """Follow one install through the service's records, failing with the stage that stalled."""
    stages: dict[str, float] = {}

    def mark(stage: str) -> None:
        stages[stage] = round(g.elapsed(), 1)
        print(f"[{hostname}] {stage} at {stages[stage]}s")

    # Requests from earlier guests are in the same access log: wait for new ones.
    kernels, initrds = file_fetches(lab, "vmlinuz"), file_fetches(lab, "initrd.img")
    boot = lab.wait_event(g, hostname, is_install_boot(mac), PXE_TIMEOUT, "no PXE request")
    mark("pxe_script")
    install = boot["install"]
    g.wait_until(lambda: file_fetches(lab, "vmlinuz") > kernels, FETCH_TIMEOUT, "no kernel fetch")
    g.wait_until(lambda: file_fetches(lab, "initrd.img") > initrds, FETCH_TIMEOUT, "no initrd fetch")
    mark("kernel_initrd")
    cmdline = kernel_cmdline(g)
    mark("kernel_running")
    for name in ("meta-data", "user-data"):
        lab.wait_event(g, hostname, lambda e, n=name: e["kind"] == "seed" and e["install"] == install
                       and e["message"] == f"seed {n} fetched", SEED_TIMEOUT, "no seed fetch")
    mark("seed")
    ready = lab.wait_event(g, hostname, lambda e: e["kind"] in ("ready", "unhealthy")
                           and e["install"] == install, READY_TIMEOUT, "no callback")
    mark("ready_callback")
    return Booted(g, hostname, install, seed_token(cmdline), cmdline, ready, stages)


@contextmanager
def booted_with_ssh(lab: Lab, image: TestImage, key: SshKey, workdir: Path, hostname: str,
                    mac: str) -> Iterator[Booted]:
    """A BIOS guest of the test image PXE-booted to its ready report and to SSH."""
    with Guest(workdir, tftp_dir=lab.tftp, mac=mac, base_disk=image.disk) as g:
        booted = boot_to_ready(lab, g, hostname, mac)
        g.wait_for_ssh(ADMIN_USER, key.path, timeout=SSH_TIMEOUT, stage="SSH refused")
        booted.stages["ssh"] = round(g.elapsed(), 1)
        yield booted


def ssh_ok(g: Guest, key: SshKey, cmd: str) -> str:
    res = g.ssh(cmd, ADMIN_USER, key.path, timeout=60)
    assert res.returncode == 0, f"ssh {cmd!r}: rc={res.returncode} {res.stderr}"
    return res.stdout


def sudo(g: Guest, key: SshKey, cmd: str) -> str:
    """sudo with the inventory's admin password: it works for sudo, never for SSH."""
    pw = shlex.quote(ADMIN_PASSWORD)
    return ssh_ok(g, key, f"printf '%s\\n' {pw} | sudo -S -p '' {cmd}")


def password_login(g: Guest, user: str, password: str,
                   workdir: Path) -> tuple[subprocess.CompletedProcess[str], bool]:
    """Try SSH with only password/keyboard-interactive, answering with the real password.

    Returns ssh's result and whether the server ever asked for the password."""
    workdir.mkdir(parents=True, exist_ok=True)
    asked, askpass = workdir / "askpass-called", workdir / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\necho asked >> {shlex.quote(str(asked))}\n"
                       f"printf '%s\\n' {shlex.quote(password)}\n")
    askpass.chmod(0o700)
    opts = [o for o in SSH_OPTIONS if not o.startswith(("BatchMode", "IdentitiesOnly"))]
    opts += ["ConnectTimeout=10", "PubkeyAuthentication=no", "NumberOfPasswordPrompts=1",
             "PreferredAuthentications=password,keyboard-interactive"]
    argv = ["ssh", "-p", str(g.ssh_port), *(a for o in opts for a in ("-o", o)), f"{user}@127.0.0.1", "true"]
    env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force", "DISPLAY": ":0"}
    res = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=60, start_new_session=True)  # no tty: ssh can only use askpass
    return res, asked.exists()


def refused_methods(stderr: str) -> set[str]:
    found = re.search(r"Permission denied \(([^)]*)\)", stderr)
    assert found, f"ssh was not refused with 'Permission denied': {stderr}"
    return set(found.group(1).split(","))


# -- (1) the service saw the whole install ----------------------------------------------


def test_service_served_chain_seed_and_stored_ready_facts(lab: Lab, gpu: Booted,
                                                          test_image: TestImage) -> None:
    events = lab.events(GPU_HOST)
    boots = [e for e in events if is_install_boot(GPU_MAC)(e)]
    assert [e["install"] for e in boots] == [gpu.install_id], boots
    # The guest's requests reach seedbed through QEMU's user network: from 127.0.0.1.
    assert boots[0]["message"] == f"install #{gpu.install_id} started (cloud-config) from 127.0.0.1"
    # The guest ran the per-MAC script the service rendered from the boot profile.
    assert gpu.cmdline.endswith(f"root=/dev/vda rw console=ttyS0 ds=nocloud-net;"
                                f"s={lab.base_url}/seed/{gpu.token}/"), gpu.cmdline
    assert lab.requested("GET", "/ipxe", 200) and lab.requested("GET", "/files/test/vmlinuz", 200)
    # cloud-init fetched the seed with this install's token (the token is in the seed URL).
    fetched = {e["message"] for e in events if e["kind"] == "seed" and e["install"] == gpu.install_id}
    assert {"seed meta-data fetched", "seed user-data fetched", "seed vendor-data fetched"} <= fetched
    assert lab.requested("GET", rf"/seed/{re.escape(gpu.token[:6])}\S*/user-data", 200)

    # The ready report was parsed, judged and stored.
    node = lab.node(GPU_HOST)
    assert node["state"] == "unhealthy", node
    assert not node["armed"] and node["install"] == gpu.install_id
    assert node["health"] == ["0 GPU(s) seen by nvidia-smi, 1 expected", NO_DOCKER], node["health"]
    assert gpu.ready["kind"] == "unhealthy" and gpu.ready["data"]["facts"] == node["facts"]
    facts = node["facts"]
    assert facts["hostname"] == GPU_HOST
    assert facts["kernel"] == test_image.manifest["kernel_version"]  # the profile's kernel booted
    assert facts["os"].startswith("Debian GNU/Linux 12"), facts["os"]
    assert facts["swap_kib"] == 0
    assert facts["gpus"] == [] and facts["nvidia_smi"] is False
    assert facts["docker"]["version"] is None
    assert facts["sshd"]["permitrootlogin"] == "no"
    assert facts["sshd"]["passwordauthentication"] == "no"
    assert facts["sshd"]["allowtcpforwarding"] == "yes"
    assert facts["sshd"]["pubkeyauthentication"] == "yes"


# -- (2) the installed machine, over SSH -----------------------------------------------


def test_ssh_admin_key_in_root_and_passwords_out(gpu: Booted, admin_key: SshKey,
                                                 tmp_path: Path) -> None:
    g = gpu.guest
    assert ssh_ok(g, admin_key, "id -un").strip() == ADMIN_USER
    assert "sudo" in ssh_ok(g, admin_key, "id -Gn").split()

    root = g.ssh("true", "root", admin_key.path, timeout=60)
    assert root.returncode == 255, f"root logged in: {root.stdout} {root.stderr}"
    assert "Permission denied" in root.stderr, root.stderr

    res, asked = password_login(g, ADMIN_USER, ADMIN_PASSWORD, tmp_path / "pw")
    assert res.returncode == 255, f"password login was accepted: {res.stderr}"
    methods = refused_methods(res.stderr)
    assert methods == {"publickey"}, f"sshd offers {methods}"
    assert not asked, "sshd asked for a password"
    # The ready report's token is spent, so the node no longer keeps it.
    assert ssh_ok(g, admin_key, "test -e /etc/seedbed/ready.json && echo kept || echo gone").strip() == "gone"


def test_hostname_swap_and_effective_sshd_settings(gpu: Booted, admin_key: SshKey) -> None:
    g = gpu.guest
    assert ssh_ok(g, admin_key, "hostname").strip() == GPU_HOST
    # The image boots with /swap.img (as Ubuntu's installer leaves it); the seed removes it for good.
    assert SWAP_ACTIVATED.search(g.console_text()), "the test image's swap never came on"
    swaps = ssh_ok(g, admin_key, "cat /proc/swaps").splitlines()
    assert swaps[1:] == [], f"swap is on: {swaps}"
    fstab = ssh_ok(g, admin_key, "cat /etc/fstab").splitlines()
    assert not [line for line in fstab if line.split()[2:3] == ["swap"]], fstab
    assert ssh_ok(g, admin_key, "test -e /swap.img && echo kept || echo gone").strip() == "gone"
    effective = dict(line.split(" ", 1) for line in sudo(g, admin_key, "/usr/sbin/sshd -T").splitlines()
                     if " " in line)
    assert effective["permitrootlogin"] == "no"
    assert effective["passwordauthentication"] == "no"
    assert effective["kbdinteractiveauthentication"] == "no"
    assert effective["allowtcpforwarding"] == "yes"
    assert effective["x11forwarding"] == "no"


def test_cloud_init_accepted_the_seed(gpu: Booted, admin_key: SshKey) -> None:
    g = gpu.guest
    assert "Valid cloud-config" in sudo(g, admin_key, "cloud-init schema --system")
    result = json.loads(ssh_ok(g, admin_key, "cat /run/cloud-init/result.json"))["v1"]
    assert result["datasource"].startswith("DataSourceNoCloudNet")
    assert gpu.token in result["datasource"]
    # The minbase test image has no generated locales, so cloud-init's own default
    # `locale` module fails there; any other failing module is the seed's fault.
    others = [e for e in result["errors"] if not e.startswith("('locale',")]
    assert others == [], others


def test_gpu_node_docker_daemon_json(lab: Lab, gpu: Booted, admin_key: SshKey) -> None:
    daemon = json.loads(ssh_ok(gpu.guest, admin_key, "cat /etc/docker/daemon.json"))
    node = load_inventory(lab.inventory).inventory.node_by_hostname(GPU_HOST)
    assert node is not None
    assert daemon == docker_daemon_json(node)
    assert daemon == GUIDE_DAEMON_JSON


# -- (3) installed: the next PXE boot gets the local disk ---------------------------


def test_second_pxe_boot_after_ready_gets_local_disk(lab: Lab, gpu: Booted,
                                                     guest: Callable[..., Guest]) -> None:
    after = lab.last_event_id()
    g = guest(tftp_dir=lab.tftp, mac=GPU_MAC)  # the same machine powered on again; no need for a disk
    local = lab.wait_event(g, GPU_HOST, lambda e: e["kind"] == "boot" and e["mac"] == GPU_MAC,
                           PXE_TIMEOUT, "no PXE request", after_id=after)
    assert local["message"] == f"local disk: {GPU_HOST} is unhealthy, not armed for install", local
    g.wait_for_console(r"seedbed: booting the local disk", FETCH_TIMEOUT, "no local-disk script")
    assert lab.find_event(GPU_HOST, is_install_boot(GPU_MAC), after_id=after) is None
    assert lab.node(GPU_HOST)["state"] == "unhealthy"
    # Its install token is spent: no seed; a repeated ready report gets the recorded answer
    # (like a repeated `installed`) and changes nothing.
    seed = requests.get(f"{lab.url}/seed/{gpu.token}/user-data", timeout=10)
    assert seed.status_code == 403, seed.text
    assert "seeds are closed" in seed.json()["error"]
    again = requests.post(f"{lab.url}/api/v1/callback/{gpu.token}/ready", json={"hostname": GPU_HOST},
                          timeout=10)
    assert again.status_code == 200 and again.json()["status"] == "unhealthy", again.text
    assert again.json()["problems"] == lab.node(GPU_HOST)["health"]
    assert lab.node(GPU_HOST)["state"] == "unhealthy"


# -- (4) an unknown MAC is recorded, and gets no seed ----------------------------------


def test_unknown_mac_is_discovered_and_gets_no_seed(lab: Lab, guest: Callable[..., Guest]) -> None:
    after = lab.last_event_id()
    g = guest(tftp_dir=lab.tftp, mac=UNKNOWN_MAC)

    def seen() -> dict[str, Any] | None:
        return next((d for d in lab.discovered() if d["mac"] == UNKNOWN_MAC), None)

    found = g.wait_until(seen, PXE_TIMEOUT, "no PXE request", interval=1)
    assert found["boots"] == 1 and found["platform"] == "pcbios" and found["accepted_as"] is None, found
    g.wait_for_console(r"seedbed: booting the local disk", FETCH_TIMEOUT, "no local-disk script")
    new = [e for e in lab.events() if e["id"] > after]
    assert [e["kind"] for e in new if e["mac"] == UNKNOWN_MAC] == ["discovered"], new
    assert not [e for e in new if e["kind"] in ("seed", "ready", "unhealthy")], new
    assert UNKNOWN_MAC not in {m for n in lab.api("nodes")["nodes"] for m in n["macs"]}


# -- (5) UEFI: OVMF and iPXE's EFI ROM, the same chain -----------------------------------


def test_uefi_chain_to_ready(lab: Lab, test_image: TestImage, guest: Callable[..., Guest],
                             boot_timings: dict[str, dict[str, float]]) -> None:
    g = guest(tftp_dir=lab.tftp, mac=UEFI_MAC, firmware="uefi", base_disk=test_image.disk)
    booted = boot_to_ready(lab, g, UEFI_HOST, UEFI_MAC)
    boot_timings["service_boot[uefi]"] = booted.stages
    assert f"s={lab.base_url}/seed/{booted.token}/" in booted.cmdline
    console = g.console_text()
    assert "efi: EFI v2" in console, "the kernel did not start under UEFI firmware"
    # The kernel's EFI stub found the initrd by the name the service's script gave it.
    assert "EFI stub: Loaded initrd from command line option" in console
    node = lab.node(UEFI_HOST)
    assert node["state"] == "unhealthy" and node["health"] == [NO_DOCKER], node
    assert node["facts"]["hostname"] == UEFI_HOST
    assert node["facts"]["sshd"]["passwordauthentication"] == "no"


# -- (6) a superseded token: refused at the seed, a named failure, no hang ----------------


def test_superseded_token_fails_at_the_seed_stage(lab: Lab, test_image: TestImage,
                                                  guest: Callable[..., Guest]) -> None:
    g = guest(tftp_dir=lab.tftp, mac=STALE_MAC, base_disk=test_image.disk)
    first = lab.wait_event(g, STALE_HOST, is_install_boot(STALE_MAC), PXE_TIMEOUT, "no PXE request")
    # Another boot request for the same MAC (say, a second NIC) supersedes the guest's install.
    second = requests.get(f"{lab.url}/ipxe", params={"mac": STALE_MAC}, timeout=10)
    assert second.status_code == 200, second.text
    newer = seed_token(second.text)
    stale = seed_token(kernel_cmdline(g))
    assert stale != newer

    # cloud-init asks for its seed with the stale token, and the service refuses it.
    refused = rf"/seed/{re.escape(stale[:6])}\S*/meta-data"
    g.wait_until(lambda: lab.requested("GET", refused, 403), SEED_TIMEOUT, "no seed fetch attempt")
    with pytest.raises(BootStageError) as failure:
        lab.wait_event(g, STALE_HOST, lambda e: e["kind"] == "seed", 20, "no seed fetch")
    assert failure.value.stage == "no seed fetch"
    assert "not reached within 20s" in failure.value.detail
    assert failure.value.console_tail and "serial console (tail)" in str(failure.value)

    reply = requests.get(f"{lab.url}/seed/{stale}/meta-data", timeout=10)
    assert reply.status_code == 403
    assert reply.json() == {"error": "token belongs to an install that is no longer current"}
    events = [e for e in lab.events(STALE_HOST) if e["id"] >= first["id"]]
    kinds = [e["kind"] for e in events]
    # Two installs begun, the first superseded by the second boot; nothing fetched or reported.
    assert kinds == ["boot", "superseded", "boot"], kinds
    assert events[1]["data"] == {"address": "127.0.0.1", "previous_address": "127.0.0.1"}
    node = lab.node(STALE_HOST)
    assert node["state"] == "installing" and node["install"] == first["install"] + 1, node
    # The newer token is the one that works.
    assert requests.get(f"{lab.url}/seed/{newer}/meta-data", timeout=10).status_code == 200

