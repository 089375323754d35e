"""QEMU guests on the test LAN: a tap device on the namespace's bridge, a real
`seedbed serve --dnsmasq` on the bridge, and (proxy mode) the router's own DHCP.

The guests have no disk: the test watches what reaches seedbed (its event log), the
leases the DHCP servers wrote, and seedbed's DNS; that is the whole LAN path."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from boot.qemu import Guest
from support import Started

from .conftest import HERE, NODE_IP, NODE_MAC, SERVER_IP, lan_inventory
from .netns import TestLan

pytestmark = pytest.mark.boot

PORT = 8080
SEEDBED = str(Path(sys.executable).parent / "seedbed")


class TapGuest(Guest):
    """A Guest whose NIC is a tap device on the test LAN (the harness itself uses slirp)."""

    def __init__(self, workdir: Path, *, netns: str, tap: str, **kwargs: object) -> None:
        super().__init__(workdir, tftp_dir=workdir, **kwargs)  # type: ignore[arg-type]
        self.netns, self.tap = netns, tap

    def command(self) -> list[str]:
        return ["ip", "netns", "exec", self.netns, *super().command()]

    def _net_args(self) -> list[str]:
        netdev = f"tap,id=n0,ifname={self.tap},script=no,downscript=no"
        nic = f"virtio-net-pci,netdev=n0,mac={self.mac},bootindex=1"
        if self.romfile is not None:
            nic += f",romfile={self.romfile}"
        return ["-netdev", netdev, "-device", nic]


@pytest.fixture
def tap_guest(netns_lan: TestLan, tmp_path: Path) -> Iterator[Callable[[str], TapGuest]]:
    guests = Started()

    def make(mac: str) -> TapGuest:
        tap = netns_lan.add_tap(f"tap{len(guests)}")
        return guests.add(TapGuest(tmp_path / f"guest{len(guests)}", netns=netns_lan.server,
                                   tap=tap, mac=mac))

    yield make
    guests.stop_all()


def _serve(lan: TestLan, tmp_path: Path, data: dict) -> Path:
    """Start `seedbed serve --dnsmasq` on the bridge; returns its state folder."""
    inventory, state = tmp_path / "lab.yaml", tmp_path / "state"
    inventory.write_text(yaml.safe_dump(data))
    log = tmp_path / "seedbed.log"
    proc = lan.spawn(
        lan.server,
        [
            SEEDBED,
            "serve",
            "--inventory",
            str(inventory),
            "--state",
            str(state),
            "--host",
            SERVER_IP,
            "--port",
            str(PORT),
            "--dnsmasq",
        ],
        log,
    )
    deadline = time.monotonic() + 30
    while True:
        ok = (
            lan.ns(
                lan.server,
                "curl",
                "-fsS",
                "--max-time",
                "2",
                f"http://{SERVER_IP}:{PORT}/boot.ipxe",
                check=False,
            ).returncode
            == 0
        )
        dnsmasq_log = state / "dnsmasq" / "dnsmasq.log"
        if ok and dnsmasq_log.exists() and "started" in dnsmasq_log.read_text():
            return state
        assert proc.poll() is None, f"seedbed serve exited: {log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"stage 'seedbed serve': not up in 30s: {log.read_text()[-3000:]}"
        time.sleep(0.3)


def _boot_events(state: Path, mac: str) -> list[str]:
    db = sqlite3.connect(f"file:{state / 'seedbed.sqlite3'}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT kind, message FROM events WHERE mac = ? ORDER BY id", (mac,)).fetchall()
    finally:
        db.close()
    return [f"{kind}: {message}" for kind, message in rows if kind == "boot"]


def _dnsmasq_pids(netns: str) -> list[int]:
    out = subprocess.run(
        ["ip", "netns", "pids", netns], capture_output=True, text=True, timeout=10
    ).stdout.split()
    return [
        int(pid)
        for pid in out
        if Path(f"/proc/{pid}/comm").exists() and Path(f"/proc/{pid}/comm").read_text().strip() == "dnsmasq"
    ]


def _lease(path: Path, mac: str) -> str | None:
    """The address a dnsmasq lease file holds for `mac` (lines: expiry mac ip name id)."""
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[1] == mac:
            return fields[2]
    return None


def test_full_mode_guest_gets_reserved_ip_and_name(
    netns_lan: TestLan, tap_guest: Callable[[str], TapGuest], tmp_path: Path
) -> None:
    state = _serve(
        netns_lan,
        tmp_path,
        lan_inventory("full", port=PORT, range={"start": "10.231.0.100", "end": "10.231.0.150"}),
    )
    g = tap_guest(NODE_MAC)
    events = g.wait_until(
        lambda: _boot_events(state, NODE_MAC), 120, "iPXE fetched its per-machine script from seedbed"
    )
    assert "install #1 started" in events[0], events  # a new node is armed: its install began
    leases = state / "dnsmasq" / "dnsmasq.leases"
    assert g.wait_until(lambda: _lease(leases, NODE_MAC), 10, "lease written") == NODE_IP
    answer = netns_lan.ns(
        netns_lan.server, "python3", str(HERE / "dns_query.py"), SERVER_IP, "gpu01.lab.test", check=False
    )
    assert answer.stdout.split() == [NODE_IP], answer

    # SIGTERM to seedbed alone (not its process group): it stops its dnsmasq itself.
    seedbed = netns_lan.procs[-1]
    seedbed.send_signal(signal.SIGTERM)
    seedbed.wait(timeout=20)
    assert not _dnsmasq_pids(netns_lan.server), "dnsmasq outlived seedbed serve"


def test_proxy_mode_guest_boots_through_seedbed_next_to_the_router(
    netns_lan: TestLan, tap_guest: Callable[[str], TapGuest], tmp_path: Path
) -> None:
    router, _ = netns_lan.add_host("rtr", "10.231.0.1")
    router_leases = tmp_path / "router.leases"
    # The router: a plain DHCP server that knows nothing about PXE.
    netns_lan.spawn(
        router,
        [
            "dnsmasq",
            "--keep-in-foreground",
            "--port=0",
            "--pid-file=",
            "--log-facility=-",
            "--dhcp-range=10.231.0.100,10.231.0.150,1h",
            f"--dhcp-leasefile={router_leases}",
            "--dhcp-option=3,10.231.0.1",
        ],
        tmp_path / "router.log",
    )
    state = _serve(netns_lan, tmp_path, lan_inventory("proxy", port=PORT))
    g = tap_guest(NODE_MAC)
    events = g.wait_until(
        lambda: _boot_events(state, NODE_MAC), 120, "iPXE fetched its per-machine script through the proxy"
    )
    assert "install #1 started" in events[0], events  # a new node is armed: its install began
    address = _lease(router_leases, NODE_MAC)
    assert address is not None and address.startswith("10.231.0.1"), address
    assert _lease(state / "dnsmasq" / "dnsmasq.leases", NODE_MAC) is None  # proxy leases nothing
    assert _dnsmasq_pids(netns_lan.server), "seedbed's dnsmasq is not running"
