"""Secrets and arming: new nodes are armed for a window, tokens are pinned to addresses."""

from __future__ import annotations

import time
from typing import Any

import pytest

from seedbed.cli import main
from seedbed.service import Seedbed, Settings
from seedbed.web import create_app
from support import Clock, inventory_data, seed_token, write_inventory

MAC = "52:54:00:00:00:01"
NODE_IP = "10.20.0.21"  # gpu01's inventory address
BOOT_IP = "10.20.0.50"  # the address its firmware had when it fetched the boot script
STRANGER = "10.20.0.99"
HOUR = 3600.0


def at(address: str) -> dict[str, Any]:
    return {"environ_base": {"REMOTE_ADDR": address}}


def boot(client, address: str = BOOT_IP, mac: str = MAC) -> str:  # noqa: ANN001
    response = client.get(f"/ipxe?mac={mac}", **at(address))
    assert response.status_code == 200
    return response.text


def callbacks(client, token: str, address: str) -> dict[str, int]:  # noqa: ANN001
    """Every token endpoint from `address`, without finishing the install."""
    seed = {name: client.get(f"/seed/{token}/{name}", **at(address)).status_code
            for name in ("user-data", "meta-data", "provision.sh")}
    report = client.post(f"/api/v1/report/{token}", json={"name": "x", "event_type": "start"},
                         **at(address))
    return {**seed, "report": report.status_code}


def test_new_node_is_armed_only_for_its_window(client, clock) -> None:  # noqa: ANN001
    """Before: a node never booted stayed armed (its seed one /ipxe away) forever."""
    clock.advance(24 * HOUR - 60)
    assert "kernel" in boot(client)  # the default window: 24 hours
    clock.advance(2 * 60)
    assert "local disk" in boot(client, mac="52:54:00:00:00:02")  # gpu02 never booted: closed
    assert "/seed/" not in boot(client, mac="52:54:00:00:00:02")


def test_new_node_window_is_set_in_the_inventory(make_service, clock, admin_headers) -> None:  # noqa: ANN001
    data = inventory_data()
    data["site"]["new_node_window_minutes"] = 30
    service = make_service(data)
    client = create_app(service).test_client()
    nodes = {n["hostname"]: n for n in client.get("/api/v1/nodes", headers=admin_headers).json["nodes"]}
    assert nodes["gpu01"]["armed"] and nodes["gpu01"]["armed_until"] == clock.now + 30 * 60
    clock.advance(31 * 60)
    assert "local disk" in boot(client)
    data["site"]["new_node_window_minutes"] = 60  # a longer window applies on reload
    write_inventory(service.settings.inventory_path, data)
    assert service.refresh()  # the inventory watcher's step, without its thread
    assert "kernel" in boot(client)
    clock.advance(HOUR)
    assert "/seed/" not in boot(client, mac="52:54:00:00:00:02")
    assert client.post("/api/v1/nodes/gpu02/reinstall", headers=admin_headers).status_code == 200
    assert "kernel" in boot(client, mac="52:54:00:00:00:02")  # re-armed by the admin


def test_token_works_only_from_the_boot_address_or_the_node(client, service) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    refused = client.get(f"/seed/{token}/user-data", **at(STRANGER))
    assert refused.status_code == 403 and "$6$" not in refused.text
    assert "s3cret" not in refused.text and STRANGER in refused.json["error"]
    assert set(callbacks(client, token, STRANGER).values()) == {403}
    assert set(callbacks(client, token, BOOT_IP).values()) == {200}
    assert set(callbacks(client, token, NODE_IP).values()) == {200}  # static network applied
    for outcome in ("failed", "installed"):
        stranger = client.post(f"/api/v1/callback/{token}/{outcome}", **at(STRANGER))
        assert stranger.status_code == 403, outcome
    ready = client.post(f"/api/v1/callback/{token}/ready", json={"hostname": "gpu01"},
                        **at(STRANGER))
    assert ready.status_code == 403
    assert service.store.node("gpu01").state == "installing"  # the stranger changed nothing
    assert client.post(f"/api/v1/callback/{token}/installed", **at(NODE_IP)).status_code == 200


def test_ipv4_through_a_dual_stack_socket_is_the_same_address(client) -> None:  # noqa: ANN001
    token = seed_token(boot(client, address=f"::ffff:{BOOT_IP}"))
    assert client.get(f"/seed/{token}/meta-data", **at(BOOT_IP)).status_code == 200
    assert client.get(f"/seed/{token}/meta-data", **at(f"::ffff:{BOOT_IP}")).status_code == 200


def test_pinning_can_be_turned_off(make_service) -> None:  # noqa: ANN001
    data = inventory_data()
    data["site"]["pin_install_address"] = False
    client = create_app(make_service(data)).test_client()
    token = seed_token(boot(client))
    assert set(callbacks(client, token, STRANGER).values()) == {200}


def test_a_superseded_install_names_the_address_that_superseded_it(client, service) -> None:  # noqa: ANN001
    first = seed_token(boot(client))
    second = seed_token(boot(client, address=STRANGER))
    [event] = [e for e in service.store.events("gpu01") if e.kind == "superseded"]
    assert STRANGER in event.message and BOOT_IP in event.message and "#1" in event.message
    assert event.data == {"address": STRANGER, "previous_address": BOOT_IP}
    assert client.get(f"/seed/{first}/meta-data", **at(BOOT_IP)).status_code == 403
    # The stranger's own install is pinned to the stranger: the node itself may still finish it.
    assert client.get(f"/seed/{second}/meta-data", **at(BOOT_IP)).status_code == 403
    assert client.get(f"/seed/{second}/meta-data", **at(NODE_IP)).status_code == 200


@pytest.mark.parametrize("address", [STRANGER, "127.0.0.1"])
def test_boot_events_name_the_requesting_address(client, service, address: str) -> None:  # noqa: ANN001
    boot(client, address=address)
    [event] = [e for e in service.store.events("gpu01") if e.kind == "boot"]
    assert address in event.message and event.data == {"address": address}


def test_cli_shows_a_closed_window(tmp_path, capsys) -> None:  # noqa: ANN001
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    Seedbed(Settings(inventory, tmp_path / "state"), Clock(time.time() - 25 * HOUR))
    assert main(["nodes", "--inventory", str(inventory), "--state", str(tmp_path / "state")]) == 0
    out = capsys.readouterr().out
    assert out.count("new (window closed: seedbed reinstall)") == 2, out
