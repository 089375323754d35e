"""Concurrent edits of the inventory through the admin API: no accepted node is ever lost."""

from __future__ import annotations

import threading
from typing import Any

from seedbed.inventory import load_inventory
from seedbed.web import create_app
from support import run_threads

PAIRS = 5


def _accept_at_once(app: Any, headers: dict[str, str], requests: list[tuple[str, dict]]) -> list:
    """POST every accept from its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(requests))
    answers: list[Any] = [None] * len(requests)

    def post(i: int, mac: str, body: dict) -> None:
        client = app.test_client()
        barrier.wait(timeout=10)
        answers[i] = client.post(f"/api/v1/discovered/{mac}/accept", headers=headers, json=body)

    threads = [threading.Thread(target=post, args=(i, *r)) for i, r in enumerate(requests)]
    run_threads(threads, 30, "an accept request")
    return answers


def _discover(client: Any, mac: str) -> None:
    assert client.get(f"/ipxe?mac={mac}").status_code == 200


def test_concurrent_accepts_both_land_in_the_file(service, admin_headers) -> None:  # noqa: ANN001
    """Before: 5 of 5 pairs answered 201 twice and lost one node from the file."""
    app = create_app(service)
    for pair in range(PAIRS):
        macs = [f"aa:bb:cc:00:{pair:02x}:0{k}" for k in (1, 2)]
        for mac in macs:
            _discover(app.test_client(), mac)
        answers = _accept_at_once(app, admin_headers, [
            (mac, {"hostname": f"new{pair}{k}", "ip": f"10.20.0.{100 + pair * 2 + k}",
                   "roles": ["worker"]}) for k, mac in enumerate(macs)])
        assert [a.status_code for a in answers] == [201, 201], [a.json for a in answers]
        on_disk = load_inventory(service.settings.inventory_path).inventory
        for k, mac in enumerate(macs):
            node = on_disk.node_by_mac(mac)
            assert node is not None, f"pair {pair}: new{pair}{k} was lost from the file"
            assert node.hostname == f"new{pair}{k}"
            assert service.inventory.node_by_mac(mac) is not None, f"pair {pair}: not in memory"
    assert len(load_inventory(service.settings.inventory_path).inventory.nodes) == 2 + 2 * PAIRS


def test_the_same_mac_accepted_twice_at_once_is_a_409(service, admin_headers) -> None:  # noqa: ANN001
    app = create_app(service)
    mac = "aa:bb:cc:00:99:01"
    _discover(app.test_client(), mac)
    answers = _accept_at_once(app, admin_headers, [
        (mac, {"hostname": f"twin{k}", "ip": f"10.20.0.{200 + k}", "roles": ["worker"]})
        for k in (1, 2)])
    assert sorted(a.status_code for a in answers) == [201, 409], [a.json for a in answers]
    conflict = next(a for a in answers if a.status_code == 409)
    assert "already in" in conflict.json["error"]
    nodes = load_inventory(service.settings.inventory_path).inventory.nodes
    assert sum(n.macs[0] == mac for n in nodes) == 1
