"""The hosts file and BIND zone exported for other DNS servers (checked by named-checkzone)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from seedbed.lan import dnsexport
from support import inventory_data, inventory_of


def _inv(**dhcp: object):  # noqa: ANN202
    return inventory_of(inventory_data(dhcp=dhcp) if dhcp else inventory_data())


def test_hosts_file_lists_every_node() -> None:
    lines = dnsexport.hosts_file(_inv()).splitlines()
    assert lines[1:] == ["10.20.0.21\tgpu01.lab.test gpu01", "10.20.0.22\tgpu02.lab.test gpu02"]


def test_zone_file_loads_in_bind(tmp_path: Path) -> None:
    if not shutil.which("named-checkzone"):
        pytest.fail("named-checkzone missing: apt-get install bind9-utils", pytrace=False)
    zone = tmp_path / "lab.test.zone"
    zone.write_text(dnsexport.zone_file(_inv(), 2026010100))
    result = subprocess.run(
        ["named-checkzone", "-k", "fail", "-n", "fail", "lab.test", str(zone)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "loaded serial 2026010100" in result.stdout
    text = zone.read_text()
    assert "gpu01\tIN\tA\t10.20.0.21" in text
    assert "@\tIN\tNS\tseedbed.lab.test." in text and "seedbed\tIN\tA\t10.20.0.5" in text


def test_zone_serial_is_stable_until_the_records_change(tmp_path: Path) -> None:
    state = tmp_path / "serial.json"
    first = dnsexport.zone_serial(_inv(), state, today="20260101")
    assert first == 2026010100
    assert dnsexport.zone_serial(_inv(), state, today="20260101") == first
    changed = _inv(server_ip="10.20.0.9")
    assert dnsexport.zone_serial(changed, state, today="20260101") == first + 1
    assert dnsexport.zone_serial(changed, state, today="20260305") == first + 1
    assert dnsexport.zone_serial(_inv(), state, today="20260305") == 2026030500


def test_zone_refuses_a_node_named_like_the_name_server() -> None:
    data = inventory_data()
    data["nodes"][1]["hostname"] = "seedbed"
    with pytest.raises(ValueError, match="seedbed"):
        dnsexport.zone_file(inventory_of(data), 1)
