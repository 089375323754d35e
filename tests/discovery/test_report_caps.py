"""A LAN peer flooding discovery reports: every unknown MAC it boots as may report once, the
largest report the contract takes, and the store stays within the discovered-row cap."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hostile.test_caps import memory_state, store_bytes, unknown_mac  # noqa: F401 - fixture by name
from seedbed import limits
from seedbed.service import Seedbed, Settings
from seedbed.web import create_app
from support import Clock, inventory_data, write_inventory

STRANGERS = limits.DISCOVERED_MAX + 88


def largest_report() -> dict:
    """Every list at its longest and most texts long, just under the size limit."""
    text = "x" * 100
    return {
        "cpu": {"model": text, "cores": 65_536}, "memory_bytes": 2**62,
        "disks": [{"name": f"sd{i:03d}", "serial": text, "model": text, "size_bytes": 2**62,
                   "rotational": True, "removable": False, "transport": "sata"} for i in range(64)],
        "nics": [{"name": f"eth{i}", "mac": unknown_mac(i), "link": None, "driver": "e1000e"}
                 for i in range(32)],
        "gpus": [{"vendor_id": "0x10de", "device_id": "0x2204", "pci": f"0000:{i:02x}:00.0"}
                 for i in range(32)],
        "firmware": {"mode": "uefi", "secure_boot": None}, "dmi": {"vendor": text, "product": text},
    }


def test_a_flood_of_discovery_reports_stays_within_the_row_cap(tmp_path: Path, memory_state: Path,  # noqa: F811
                                                               clock: Clock) -> None:
    data = inventory_data(discovery={"boot": True})
    service = Seedbed(Settings(write_inventory(tmp_path / "lab.yaml", data), memory_state,
                               reload_seconds=0), clock)
    web = create_app(service).test_client()
    report = largest_report()
    body = json.dumps(report)
    assert len(body) <= limits.DISCOVERY_FACTS_MAX_BYTES
    for i in range(STRANGERS):
        clock.advance(1)
        script = web.get("/ipxe", query_string={"mac": unknown_mac(i)}).get_data(as_text=True)
        token = re.search(r"/api/v1/discovery/([A-Za-z0-9_-]{43})", script).group(1)
        answer = web.post(f"/api/v1/discovery/{token}", data=body, content_type="application/json")
        assert answer.status_code == 200, answer.get_json()
    rows = service.store.discovered()
    assert len(rows) == limits.DISCOVERED_MAX
    assert service.store.dropped("discovered") == STRANGERS - limits.DISCOVERED_MAX
    assert all(row["facts"] is not None for row in rows)
    one_row = len(json.dumps(rows[0]["facts"]))
    size = store_bytes(service.store, settle=True)
    print(f"\n{STRANGERS} maximal discovery reports: {len(rows)} rows, {one_row} bytes of facts each, "
          f"store {size / 2**20:.1f} MiB")
    assert size < limits.DISCOVERED_MAX * one_row * 1.5 + 2**20
