"""Secure Boot on: OVMF with Microsoft's keys, shim -> signed GRUB -> seedbed's per-machine
GRUB config -> the Debian-signed test kernel -> cloud-init -> ready, checked from outside.

The signed parts come from Debian (Ubuntu's shim trusts only Canonical's key, and Ubuntu's
files come only from its ISO, which these machines cannot fetch): an ISO in the Ubuntu
layout is built here with Debian's shim, network GRUB and the test kernel, and imported
with `seedbed artifacts import`. Once with Debian 12's GRUB 2.06 (no http: config, kernel
and initrd over TFTP) and once with Debian 13's GRUB 2.12 (config from seedbed's /grub over
HTTP). The same firmware refuses the unsigned iPXE seedbed offers other UEFI machines, and
`validate` refuses an inventory that would offer it to a Secure Boot node.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from secureboot.iso import make_iso
from seedbed.artifacts import import_iso
from seedbed.lan.signedboot import mac_config_name
from support import write_inventory

from .image import TestImage
from .lab import PROFILE, Lab, lab_inventory
from .qemu import BootStageError, Guest, SshKey, make_ed25519_key
from .signed_parts import GRUB_206, SHIM, grub_212

RELEASE = "debian-signed-test"
TFTP_HOST, TFTP_MAC = "sb-tftp", "52:54:00:5e:ed:31"
HTTP_HOST, HTTP_MAC = "sb-http", "52:54:00:5e:ed:32"
KERNEL_TIMEOUT = 240  # power-on -> the kernel's Secure Boot line (TCG: ~30 s)
READY_TIMEOUT = 480  # kernel -> cloud-init's ready report
TREE_TIMEOUT = 30  # the service writes its TFTP tree within seconds of starting
SECURE_KERNEL = r"secureboot: Secure boot enabled"
CMDLINE = re.compile(r"Command line: (.*ds=nocloud-net;s=\S+/seed/[A-Za-z0-9_-]+/)")


@pytest.fixture(scope="module")
def admin_key(tmp_path_factory: pytest.TempPathFactory) -> SshKey:
    return make_ed25519_key(tmp_path_factory.mktemp("ssh"))


def signed_iso(work: Path, image: TestImage, grub: Path) -> Path:
    """Debian's signed chain in the Ubuntu ISO layout: what `artifacts import` reads."""
    return make_iso(work / f"{RELEASE}.iso", {"casper/vmlinuz": image.kernel, "casper/initrd": image.initrd,
                                             "EFI/boot/bootx64.efi": SHIM, "EFI/boot/grubx64.efi": grub})


def sb_node(hostname: str, mac: str) -> dict[str, Any]:
    return {"hostname": hostname, "macs": [mac], "ip": "10.0.2.31", "gpus": 0, "profile": PROFILE,
            "roles": ["controlplane", "etcd", "worker"], "secure_boot": True}


def start_lab(root: Path, image: TestImage, key: SshKey, grub: Path, node: dict[str, Any],
              grub_config: str) -> Lab:
    def inventory(base_url: str) -> dict[str, Any]:
        data = lab_inventory(base_url, key.public, [node])
        data["installer"] = {"release": RELEASE, "iso": "http://10.0.2.2/unused.iso"}
        # dnsmasq's TFTP root, where seedbed writes the chain (slirp serves it here).
        data["dhcp"] = {"grub_config": grub_config, "tftp_root": str(root / "tftp")}
        # Over TFTP the install begins when seedbed writes the config, before any request:
        # slirp shows the guest's requests as 127.0.0.1, not the node's inventory address.
        data["site"]["pin_install_address"] = grub_config == "http"
        return data

    lab = Lab(root, image, key.public, [node], inventory=inventory)
    import_iso(signed_iso(root, image, grub), lab.files, RELEASE)
    return lab.start()


def wait_tree(lab: Lab, names: list[str]) -> Path:
    """seedbed's TFTP root, once the service has written `names` into it (bounded)."""
    tree = lab.tftp
    end = time.monotonic() + TREE_TIMEOUT
    while not all((tree / n).exists() for n in names):
        assert lab.serving(), f"seedbed serve exited:\n{lab.log_tail()}"
        assert time.monotonic() < end, f"seedbed wrote no {names} under {tree} in {TREE_TIMEOUT}s"
        time.sleep(0.5)
    return tree


@dataclass
class SecureBoot:
    """One Secure Boot guest followed to its ready report, and what seedbed recorded."""

    lab: Lab
    guest: Guest
    ready: dict[str, Any]
    cmdline: str
    first_config: str = ""  # the TFTP case: the per-MAC config as written before power-on


def start_guest(lab: Lab, image: TestImage, mac: str, workdir: Path) -> Guest:
    tree = wait_tree(lab, ["bootx64.efi", "grubx64.efi", "grub/grub.cfg"])
    g = Guest(workdir, tftp_dir=tree, mac=mac, firmware="uefi-secure", base_disk=image.disk,
              bootfile="bootx64.efi", romfile="")
    g.start()
    return g


def follow(lab: Lab, g: Guest, hostname: str) -> SecureBoot:
    g.wait_for_console(SECURE_KERNEL, KERNEL_TIMEOUT, "signed kernel did not start under Secure Boot")
    cmdline = g.wait_for_console(CMDLINE.pattern, 30, "kernel command line has no seed").group(1)
    ready = lab.wait_event(g, hostname, lambda e: e["kind"] in ("ready", "unhealthy"), READY_TIMEOUT,
                           "no ready callback")
    return SecureBoot(lab, g, ready, cmdline)


@pytest.fixture(scope="module")
def secure_boots(tmp_path_factory: pytest.TempPathFactory, test_image: TestImage, admin_key: SshKey,
                 boot_timings: dict[str, dict[str, float]]) -> Iterator[dict[str, SecureBoot]]:
    """Both chains at once (TFTP-only with GRUB 2.06, HTTP with GRUB 2.12): the guests run
    side by side, so the suite waits for the slower one, not for both in turn."""
    root = tmp_path_factory.mktemp("secure-boot")
    labs = {"tftp": start_lab(root / "tftp-lab", test_image, admin_key, GRUB_206,
                              sb_node(TFTP_HOST, TFTP_MAC), "tftp"),
            "http": start_lab(root / "http-lab", test_image, admin_key, grub_212(),
                              sb_node(HTTP_HOST, HTTP_MAC), "http")}
    guests: list[Guest] = []
    try:
        per_mac = wait_tree(labs["tftp"], [mac_config_name(TFTP_MAC)]) / mac_config_name(TFTP_MAC)
        first_config = per_mac.read_text()
        for (mode, lab), mac in zip(labs.items(), (TFTP_MAC, HTTP_MAC), strict=True):
            guests.append(start_guest(lab, test_image, mac, root / f"{mode}-guest"))
        boots = {"tftp": follow(labs["tftp"], guests[0], TFTP_HOST),
                 "http": follow(labs["http"], guests[1], HTTP_HOST)}
        boots["tftp"].first_config = first_config
        for mode, booted in boots.items():
            boot_timings[f"secure_boot[{mode}]"] = {"ready": round(booted.guest.elapsed(), 1)}
        yield boots
    finally:
        for g in guests:
            g.stop()
        for lab in labs.values():
            lab.stop()


def test_tftp_only_chain_to_ready_with_secure_boot_facts(secure_boots: dict[str, SecureBoot]) -> None:
    booted = secure_boots["tftp"]
    lab, g = booted.lab, booted.guest
    assert "linux /files/test/vmlinuz" in booted.first_config, booted.first_config
    assert "ds=nocloud-net;s=" in booted.first_config
    node = lab.node(TFTP_HOST)
    assert node["facts"]["secure_boot"] == {"firmware": "uefi", "enabled": True,
                                            "nvidia_module": False}, node["facts"]
    assert booted.ready["install"] == node["install"]
    assert "EFI stub: UEFI Secure Boot is enabled" in g.console_text()
    # Config, kernel and initrd came over TFTP: seedbed saw no GRUB or kernel request.
    log = lab.access_log()
    assert not re.search(r" GET /grub\b", log) and " GET /files/test/vmlinuz" not in log
    token = booted.cmdline.rsplit("/seed/", 1)[1][:6]
    assert f"s={lab.base_url}/seed/{token}" in booted.first_config  # the seed the file named
    # Ready disarms the node: its TFTP config becomes "boot the local disk".
    per_mac = lab.tftp / mac_config_name(TFTP_MAC)
    g.wait_until(lambda: "exit" in per_mac.read_text() and "linux" not in per_mac.read_text(),
                 TREE_TIMEOUT, "per-MAC config not rewritten after ready")


def test_http_config_chain_to_ready_with_grub_212(secure_boots: dict[str, SecureBoot]) -> None:
    booted = secure_boots["http"]
    lab = booted.lab
    node = lab.node(HTTP_HOST)
    assert node["facts"]["secure_boot"]["enabled"] is True, node["facts"]
    assert "EFI stub: UEFI Secure Boot is enabled" in booted.guest.console_text()
    assert lab.requested("GET", "/grub", 200), lab.log_tail()  # the log drops query strings
    assert lab.requested("GET", "/files/test/vmlinuz", 200), lab.log_tail()
    assert f"s={lab.base_url}/seed/" in booted.cmdline
    assert not (lab.tftp / mac_config_name(HTTP_MAC)).exists()


def test_firmware_refuses_ipxe_and_validate_refuses_offering_it(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, test_image: TestImage,
        admin_key: SshKey, guest: Callable[..., Guest]) -> None:
    lab = start_lab(tmp_path_factory.mktemp("sb-ipxe"), test_image, admin_key, GRUB_206,
                    sb_node(TFTP_HOST, TFTP_MAC), "tftp")
    try:
        tree = wait_tree(lab, ["bootx64.efi"])
        shutil.copyfile("/usr/lib/ipxe/ipxe.efi", tree / "ipxe.efi")  # as an admin puts it there
        # What seedbed offers a UEFI machine it does not know as Secure Boot: unsigned iPXE.
        g = guest(tftp_dir=tree, mac=TFTP_MAC, firmware="uefi-secure", bootfile="ipxe.efi", romfile="")
        g.wait_for_console(r"Access Denied", 180, "firmware did not refuse unsigned iPXE")
        with pytest.raises(BootStageError):
            g.wait_for_console(r"iPXE", 5, "iPXE ran")
    finally:
        lab.stop()
    # The configuration that would offer it: a Secure Boot node without the signed chain.
    data = yaml.safe_load(lab.inventory.read_text())
    data["installer"] = {"kernel": "test/vmlinuz", "initrd": "test/initrd.img",
                         "iso": "http://10.0.2.2/unused.iso"}
    refused = subprocess.run([sys.executable, "-m", "seedbed.cli", "validate",
                              str(write_inventory(tmp_path / "ipxe.yaml", data))],
                             capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert refused.returncode == 1
    assert "only UEFI boot file seedbed has is unsigned iPXE (ipxe.efi)" in refused.stderr
    assert "seedbed artifacts import" in refused.stderr
