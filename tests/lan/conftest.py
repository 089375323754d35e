"""Fixtures for the LAN tests: a test inventory on the namespace LAN, root checks."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .netns import TestLan

HERE = Path(__file__).parent
LAN = "10.231.0"  # the test LAN's /24, inside namespaces this test creates
SERVER_IP = f"{LAN}.5"
NODE_MAC = "52:54:00:5e:ed:61"
NODE_IP = f"{LAN}.21"


def lan_inventory(mode: str = "proxy", port: int = 8080, **dhcp: Any) -> dict[str, Any]:
    from support import inventory_data

    data = inventory_data()
    data["site"].update(
        subnet=f"{LAN}.0/24", gateway=f"{LAN}.1", dns=[f"{LAN}.1"], base_url=f"http://{SERVER_IP}:{port}"
    )
    data["installer"]["iso"] = f"http://{SERVER_IP}:{port}/files/ubuntu/focal.iso"
    data["nodes"][0].update(macs=[NODE_MAC], ip=NODE_IP)
    data["nodes"][1].update(ip=f"{LAN}.22")
    data["dhcp"] = {"mode": mode, "interface": "br0", **dhcp}
    return data


@pytest.fixture
def netns_lan() -> Iterator[TestLan]:
    missing = [c for c in ("ip", "dnsmasq", "python3") if not shutil.which(c)]
    if missing:
        pytest.fail(f"LAN tests need: {missing} (apt-get install iproute2 dnsmasq-base)", pytrace=False)
    if os.geteuid() != 0:
        pytest.fail("LAN tests create network namespaces and must run as root", pytrace=False)
    with TestLan(LAN) as lan:
        yield lan
