"""A real dnsmasq, run from the rendered configuration in a test namespace, answers each
kind of netbooting client as documented: BIOS PXE → undionly.kpxe, UEFI → ipxe.efi,
iPXE → the HTTP chain script; full mode offers each node its reserved address."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from seedbed.lan import dnsmasq
from support import inventory_of

from .conftest import HERE, NODE_IP, NODE_MAC, SERVER_IP, lan_inventory
from .netns import TestLan

PROBE = str(HERE / "dhcp_probe.py")
BOOT_URL = f"http://{SERVER_IP}:8080/boot.ipxe"


def _start_dnsmasq(lan: TestLan, data: dict, tmp_path: Path) -> None:
    inv = inventory_of(data)
    conf = tmp_path / "dnsmasq.conf"
    conf.write_text(dnsmasq.config_text(inv, dnsmasq.Paths(tmp_path)))
    log = tmp_path / "dnsmasq.log"
    proc = lan.spawn(lan.server, ["dnsmasq", "--keep-in-foreground", f"--conf-file={conf}"], log)
    deadline = time.monotonic() + 10
    while "started" not in log.read_text():
        assert proc.poll() is None, f"dnsmasq exited: {log.read_text()}"
        assert time.monotonic() < deadline, f"dnsmasq did not start: {log.read_text()}"
        time.sleep(0.1)


def _probe(
    lan: TestLan, client: tuple[str, str], mac: str, arch: int, ipxe: bool, client_ip: str | None
) -> list[dict]:
    args = [
        client[1],
        mac,
        str(arch),
        *(["--ipxe"] if ipxe else []),
        *(["--client-ip", client_ip] if client_ip else []),
    ]
    out = lan.ns(client[0], "python3", PROBE, *args, timeout=20).stdout
    return [json.loads(line) for line in out.splitlines()]


def _boot_file(replies: list[dict]) -> str:
    """The file the client ends up loading: from the offer, else from the boot server."""
    files = [r["file"] for r in replies if r["file"]]
    assert files, f"no boot file in any reply: {replies}"
    return files[-1]


CLIENTS = [
    (0, False, "undionly.kpxe"),
    (7, False, "ipxe.efi"),
    (9, False, "ipxe.efi"),
    (0, True, BOOT_URL),
    (7, True, BOOT_URL),
]


def test_proxy_mode_answers_each_firmware(netns_lan: TestLan, tmp_path: Path) -> None:
    _start_dnsmasq(netns_lan, lan_inventory("proxy"), tmp_path)
    client = netns_lan.add_host("cli", "10.231.0.77")  # as if the router had leased it
    for arch, ipxe, expected in CLIENTS:
        replies = _probe(netns_lan, client, "52:54:00:aa:00:01", arch, ipxe, "10.231.0.77")
        offers = [r for r in replies if r["step"] == "offer"]
        assert offers, f"arch {arch} ipxe={ipxe}: no proxy offer"
        # A proxy never hands out an address: the router does.
        assert all(r["yiaddr"] == "0.0.0.0" for r in offers), offers
        # iPXE ignores a proxy answer without next-server (iPXE's dhcp_has_pxeopts).
        assert all(r["siaddr"] == SERVER_IP for r in replies if r["file"]), replies
        assert _boot_file(replies) == expected, (arch, ipxe, replies)


def test_full_mode_reserves_the_node_address_and_boots_each_firmware(
    netns_lan: TestLan, tmp_path: Path
) -> None:
    data = lan_inventory("full", range={"start": "10.231.0.100", "end": "10.231.0.150"})
    _start_dnsmasq(netns_lan, data, tmp_path)
    client = netns_lan.add_host("cli", None)
    for arch, ipxe, expected in CLIENTS:
        replies = _probe(netns_lan, client, NODE_MAC, arch, ipxe, None)
        assert [r["yiaddr"] for r in replies] == [NODE_IP], replies
        assert replies[0]["file"] == expected, (arch, ipxe, replies)
    unknown = _probe(netns_lan, client, "52:54:00:aa:00:99", 0, False, None)
    assert len(unknown) == 1
    assert 100 <= int(unknown[0]["yiaddr"].rsplit(".", 1)[1]) <= 150, unknown


@pytest.mark.parametrize("name", ["undionly.kpxe", "ipxe.efi"])
def test_tftp_serves_the_ipxe_binaries(netns_lan: TestLan, tmp_path: Path, name: str) -> None:
    _start_dnsmasq(netns_lan, lan_inventory("proxy"), tmp_path)
    client, _ = netns_lan.add_host("cli", "10.231.0.77")
    out = tmp_path / name
    netns_lan.ns(
        client, "curl", "-sS", "--max-time", "20", "-o", str(out), f"tftp://{SERVER_IP}/{name}", timeout=30
    )
    assert out.read_bytes() == (Path("/usr/lib/ipxe") / name).read_bytes()
