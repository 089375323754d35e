"""Wake-on-LAN from `seedbed power on` in one namespace, caught by a listener in another
on the same test-made bridge, and checked byte for byte: 6 x 0xFF, then the MAC 16 times."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from lan.netns import TestLan
from support import wait_for, write_inventory

from .conftest import power_inventory

LAN = "10.239.0"
NODE_MAC = "52:54:00:00:00:04"  # wol-node's first MAC in power_inventory
LISTENER = """
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 9))
data, peer = s.recvfrom(2048)
open(sys.argv[1], "w").write(data.hex() + " " + peer[0] + "\\n")
"""


@pytest.fixture
def lan() -> Iterator[TestLan]:
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.fail("the Wake-on-LAN test makes network namespaces: run as root with iproute2",
                    pytrace=False)
    with TestLan(LAN) as test_lan:
        yield test_lan


def test_magic_packet_reaches_the_node_lan_byte_for_byte(lan: TestLan, tmp_path: Path) -> None:
    node_ns, _ = lan.add_host("node", f"{LAN}.24")
    caught = tmp_path / "caught"
    lan.spawn(node_ns, [sys.executable, "-c", LISTENER, str(caught)], tmp_path / "listener.log")
    data = power_inventory("127.0.0.1:623", "http://127.0.0.1:8000",
                           broadcast=f"{LAN}.255", interface="br0")
    inventory = write_inventory(tmp_path / "lab.yaml", data)
    seedbed = [sys.executable, "-m", "seedbed.cli", "power", "on", "wol-node",
               "--inventory", str(inventory), "--state", str(tmp_path / "state")]

    def sent_and_caught() -> bool:
        done = lan.ns(lan.server, *seedbed, check=False, timeout=60)
        assert done.returncode == 0, f"seedbed power on failed: {done.stdout} {done.stderr}"
        assert "magic packet sent" in done.stdout, done.stdout
        return caught.exists()  # the listener may have been binding still: send again

    wait_for("the magic packet in the node's namespace", sent_and_caught, 30, interval=1)
    payload, sender = caught.read_text().split()
    assert bytes.fromhex(payload) == b"\xff" * 6 + bytes.fromhex(NODE_MAC.replace(":", "")) * 16
    assert sender == lan.server_ip  # out of br0, from seedbed's address on the node LAN
    assert len(bytes.fromhex(payload)) == 102


def test_wol_without_the_interface_fails_the_job_with_the_reason(lan: TestLan,
                                                                 tmp_path: Path) -> None:
    data = power_inventory("127.0.0.1:623", "http://127.0.0.1:8000",
                           broadcast=f"{LAN}.255", interface="nosuch0")
    inventory = write_inventory(tmp_path / "lab.yaml", data)
    done = lan.ns(lan.server, "env", "SEEDBED_POWER_BACKOFF_SECONDS=0.2", sys.executable, "-m",
                  "seedbed.cli", "power", "on", "wol-node",
                  "--inventory", str(inventory), "--state", str(tmp_path / "state"),
                  check=False, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    # The job's reason names what failed: the interface that is not there.
    assert "failed" in done.stdout and "nosuch0" in done.stdout, done.stdout
    assert "(attempt 3 of 3)" in done.stdout, done.stdout  # retried, bounded
