"""The signed chain without a guest: dnsmasq's answers for Secure Boot nodes (PXE and UEFI
HTTP boot), seedbed's TFTP tree and per-MAC GRUB configs, the Ubuntu release's files as
seedbed serves them, and the Secure Boot health rule."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbed.artifacts import import_iso
from seedbed.health import Facts, problems
from seedbed.inventory import parse_inventory
from seedbed.lan import dnsmasq
from seedbed.lan.signedboot import SignedChainTree, mac_config_name
from seedbed.service import Seedbed
from seedbed.web import create_app
from support import inventory_data, write_inventory

from .iso import make_iso

RELEASE = "ubuntu-24.04.1-live-server-amd64"
SB_MAC = "52:54:00:00:00:01"  # gpu01 in the test inventory
OTHER_MAC = "52:54:00:00:00:02"


def sb_data(tftp: Path, mode: str = "proxy", grub_config: str = "tftp") -> dict[str, Any]:
    data = inventory_data(installer={"artifacts": RELEASE, "iso": "http://10.20.0.5:8080/files/u.iso"})
    data["nodes"][0]["secure_boot"] = True
    data["dhcp"] = {"mode": mode, "grub_config": grub_config, "tftp_root": str(tftp)}
    return data


def lines(text: str, key: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


@pytest.mark.parametrize("mode", ["proxy", "full"])
def test_dnsmasq_offers_shim_to_secure_boot_nodes_first(tmp_path: Path, mode: str) -> None:
    inv = parse_inventory(yaml.safe_dump(sb_data(tmp_path / "tftp", mode))).inventory
    text = dnsmasq.config_text(inv, dnsmasq.Paths(tmp_path / "state" / "dnsmasq"))
    assert lines(text, "dhcp-mac") == [f"set:sb,{SB_MAC}"]  # gpu02 is not Secure Boot
    assert lines(text, "tftp-root") == [str(tmp_path / "tftp")]
    offers = lines(text, "pxe-service" if mode == "proxy" else "dhcp-boot")
    shim = [i for i, o in enumerate(offers) if o.endswith("bootx64.efi") and "tag:sb" in o]
    ipxe = [i for i, o in enumerate(offers) if o.endswith("ipxe.efi")]
    assert shim and ipxe and max(shim) < min(ipxe), offers  # the first match wins
    if mode == "full":
        url = f"http://10.20.0.5:8080/files/releases/{RELEASE}/EFI/boot/bootx64.efi"
        assert f"tag:efihttp,tag:sb,{url}" in offers
        assert lines(text, "dhcp-option-force") == ["tag:efihttp,tag:sb,60,HTTPClient"]
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(text.replace(str(tmp_path / "state" / "dnsmasq"), str(tmp_path)))
    checked = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True,
                             text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert checked.returncode == 0, checked.stderr


@pytest.fixture
def ubuntu_release(tmp_path: Path) -> dict[str, bytes]:
    """Stand-ins for Ubuntu's signed files (the real ones come only from its ISO)."""
    parts = {name: f"ubuntu {name}".encode() * 500 for name in
             ("casper/vmlinuz", "casper/initrd", "EFI/boot/bootx64.efi", "EFI/boot/grubx64.efi")}
    sources = {}
    for name, data in parts.items():
        sources[name] = tmp_path / "parts" / name
        sources[name].parent.mkdir(parents=True, exist_ok=True)
        sources[name].write_bytes(data)
    import_iso(make_iso(tmp_path / f"{RELEASE}.iso", sources), tmp_path / "state" / "files")
    return parts


def test_ubuntu_path_tftp_tree_and_per_mac_config(tmp_path: Path, ubuntu_release: dict[str, bytes],
                                                  make_service: Callable[..., Seedbed]) -> None:
    root = tmp_path / "tftp"
    service = make_service(sb_data(root))
    tree = SignedChainTree(service.settings.artifacts, service.lifecycle)
    tree.sync(service.inventory)
    assert (root / "bootx64.efi").read_bytes() == ubuntu_release["EFI/boot/bootx64.efi"]
    assert (root / "grubx64.efi").read_bytes() == ubuntu_release["EFI/boot/grubx64.efi"]
    assert 'configfile "$prefix/grub.cfg-01-$m1-$m2-$m3-$m4-$m5-$m6"' in (root / "grub/grub.cfg").read_text()
    config = (root / mac_config_name(SB_MAC)).read_text()
    assert f"linux /files/releases/{RELEASE}/casper/vmlinuz " in config
    assert f"initrd /files/releases/{RELEASE}/casper/initrd" in config
    assert "'ds=nocloud-net;s=http://10.20.0.5:8080/seed/" in config and "autoinstall" in config
    for name in ("vmlinuz", "initrd"):
        linked = root / "files" / "releases" / RELEASE / "casper" / name
        assert linked.read_bytes() == ubuntu_release[f"casper/{name}"]
    assert not (root / mac_config_name(OTHER_MAC)).exists()  # gpu02: iPXE, no GRUB config
    # Synced again: the same install (no new token); once disarmed, "boot the local disk".
    install = service.store.node("gpu01").install_id
    tree.sync(service.inventory)
    assert (root / mac_config_name(SB_MAC)).read_text() == config
    assert service.store.node("gpu01").install_id == install
    token = config.split("/seed/")[1].split("/")[0]
    service.lifecycle.failed(token, "test", None)
    tree.sync(service.inventory)
    local = (root / mac_config_name(SB_MAC)).read_text()
    assert "exit" in local and "linux" not in local


def test_ubuntu_path_http_config_and_served_hashes(tmp_path: Path, ubuntu_release: dict[str, bytes],
                                                   make_service: Callable[..., Seedbed]) -> None:
    service = make_service(sb_data(tmp_path / "tftp", grub_config="http"))
    client = create_app(service).test_client()
    manifest = client.get(f"/files/releases/{RELEASE}/manifest.json").get_json()
    for name, entry in manifest["files"].items():
        served = client.get(f"/files/releases/{RELEASE}/{name}")
        assert served.status_code == 200
        assert hashlib.sha256(served.data).hexdigest() == entry["sha256"] == \
            hashlib.sha256(ubuntu_release[name]).hexdigest()
    config = client.get("/grub", query_string={"mac": SB_MAC}).get_data(as_text=True)
    # GRUB 2.12 parses the port: seedbed's own URLs keep it for Secure Boot nodes.
    assert f"linux (http,10.20.0.5:8080)/files/releases/{RELEASE}/casper/vmlinuz " in config
    assert f"initrd (http,10.20.0.5:8080)/files/releases/{RELEASE}/casper/initrd" in config
    SignedChainTree(service.settings.artifacts, service.lifecycle).sync(service.inventory)
    bootstrap = (tmp_path / "tftp" / "grub/grub.cfg").read_text()
    assert "configfile '(http,10.20.0.5:8080)/grub?mac='\"$net_default_mac\"" in bootstrap


@pytest.mark.parametrize(("enabled", "module", "unhealthy"),
                         [(True, False, True), (True, True, False), (False, False, False)])
def test_gpu_node_with_secure_boot_needs_the_signed_module(enabled: bool, module: bool,
                                                           unhealthy: bool) -> None:
    inv = parse_inventory(yaml.safe_dump(inventory_data())).inventory
    facts = Facts(hostname="gpu01", secure_boot={"firmware": "uefi", "enabled": enabled,
                                                 "nvidia_module": module})
    found = [p for p in problems(inv, inv.nodes[0], facts) if "Secure Boot" in p]
    assert bool(found) == unhealthy, found
    gpu_less = [p for p in problems(inv, inv.nodes[1], facts.model_copy(update={"hostname": "gpu02"}))
                if "Secure Boot" in p]
    assert gpu_less == []


def test_validate_notes_say_which_firmware_setting(tmp_path: Path,
                                                   ubuntu_release: dict[str, bytes]) -> None:
    path = write_inventory(tmp_path / "lab.yaml", sb_data(tmp_path / "tftp"))
    done = subprocess.run([sys.executable, "-m", "seedbed.cli", "validate", str(path), "--files",
                           str(tmp_path / "state" / "files")],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "Secure Boot may stay on for gpu01" in done.stdout
    assert "Secure Boot must be off in the firmware of the 1 node(s)" in done.stdout


def test_grub_under_http_boot_finds_its_bootstrap_on_seedbed(tmp_path: Path,
                                                            make_service: Callable[..., Seedbed]) -> None:
    # GRUB loaded over UEFI HTTP boot reads (http,SERVER)/grub/grub.cfg first.
    client = create_app(make_service(sb_data(tmp_path / "tftp"))).test_client()
    answer = client.get("/grub/grub.cfg")
    assert answer.status_code == 200
    assert "configfile '(http,10.20.0.5:8080)/grub?mac='\"$net_default_mac\"" in answer.get_data(as_text=True)
