"""Table tests of the pure boot decision (seedbed.boot.decide) and the arming window,
beside the HTTP contract tests (test_http_lifecycle.py), in the style of matchbox's
http/ipxe_test.go: the row and the time are given, nothing is stored."""

from __future__ import annotations

from typing import Any

import pytest

from seedbed.boot import NetbootRequest, decide
from seedbed.inventory import Inventory
from seedbed.lifecycle import first_row, is_armed
from seedbed.store import NodeRow
from support import inventory_data, inventory_of

NOW = 1_800_000_000.0
MAC1, MAC2, STRANGER = "52:54:00:00:00:01", "52:54:00:00:00:02", "52:54:00:00:00:99"


def inventory(**changes: Any) -> Inventory:
    return inventory_of(inventory_data(**changes))


def row(state: str, armed_until: float | None) -> NodeRow:
    return NodeRow("gpu01", state, NOW - 600, armed_until, None, None, [], None, None)


@pytest.mark.parametrize(("state", "armed_until", "now", "armed"), [
    ("new", NOW + 1, NOW, True),
    ("new", NOW, NOW, False),  # the window's end is outside it
    ("new", NOW, NOW - 0.001, True),
    ("armed", NOW + 60, NOW, True),
    ("installing", NOW + 60, NOW, True),  # a reboot mid-install starts over
    ("installed", NOW + 60, NOW, False),
    ("ready", NOW + 60, NOW, False),
    ("unhealthy", NOW + 60, NOW, False),
    ("failed", NOW + 60, NOW, False),
    ("armed", None, NOW, False),
])
def test_is_armed(state: str, armed_until: float | None, now: float, armed: bool) -> None:
    assert is_armed(row(state, armed_until), now) is armed


def test_no_row_is_not_armed() -> None:
    assert is_armed(None, NOW) is False


def _site(**changes: Any) -> dict[str, Any]:
    return {**inventory_data()["site"], **changes}


HTTPS_INSTALLER = {"kernel": "https://mirror.test/vmlinuz", "initrd": "ubuntu/initrd",
                   "iso": "http://10.20.0.5:8080/files/ubuntu/focal.iso"}


@pytest.mark.parametrize(("name", "changes", "request_", "node_row", "action", "reason"), [
    ("unknown MAC", {}, NetbootRequest(STRANGER), None, "local", "unknown MAC"),
    ("armed", {}, NetbootRequest(MAC1), row("new", NOW + 1), "install", "gpu01 is armed"),
    ("window closed at its edge", {}, NetbootRequest(MAC1), row("new", NOW), "local",
     "gpu01 is new, not armed"),
    ("installed", {}, NetbootRequest(MAC1), row("installed", None), "local",
     "gpu01 is installed, not armed"),
    ("not synced", {}, NetbootRequest(MAC1), None, "local", "gpu01 is unknown"),
    ("rebooted mid-install", {}, NetbootRequest(MAC1), row("installing", NOW + 60), "install",
     "gpu01 is armed"),
    ("second MAC of another node", {}, NetbootRequest(MAC2), row("armed", NOW + 60), "install",
     "gpu02 is armed"),
    ("grub, plain HTTP", {}, NetbootRequest(MAC1, loader="grub"), row("armed", NOW + 60),
     "install", "gpu01 is armed"),
    ("grub, HTTPS kernel", {"installer": HTTPS_INSTALLER}, NetbootRequest(MAC1, loader="grub"),
     row("armed", NOW + 60), "refuse", "GRUB can only fetch over plain HTTP"),
    ("ipxe, HTTPS kernel", {"installer": HTTPS_INSTALLER}, NetbootRequest(MAC1),
     row("armed", NOW + 60), "install", "gpu01 is armed"),
    ("grub, HTTPS kernel, not armed", {"installer": HTTPS_INSTALLER},
     NetbootRequest(MAC1, loader="grub"), row("ready", None), "local", "not armed"),
    ("grub, HTTPS base URL", {"site": _site(base_url="https://10.20.0.5:8443")},
     NetbootRequest(MAC1, loader="grub"), row("armed", NOW + 60), "refuse", "boot it with iPXE"),
])
def test_decide(name: str, changes: dict[str, Any], request_: NetbootRequest,
                node_row: NodeRow | None, action: str, reason: str) -> None:
    inv = inventory(**changes)
    asked: list[str] = []

    def lookup(node: Any) -> NodeRow | None:
        asked.append(node.hostname)
        return node_row

    decision = decide(inv, request_, lookup, NOW)
    assert (decision.action, reason in decision.reason) == (action, True), (name, decision)
    expected = {STRANGER: [], MAC1: ["gpu01"], MAC2: ["gpu02"]}[request_.mac]
    assert asked == expected, name
    assert decision.kernel is None  # deciding names no artifact: with_seed fills them in


def test_a_new_node_row_is_armed_for_the_sites_window_and_adopted_ones_are_not() -> None:
    inv = inventory()
    node = inv.node_by_mac(MAC1)
    assert node is not None
    fresh = first_row(node, inv.site, NOW)
    window = inv.site.new_node_window_minutes * 60
    assert (fresh.state, fresh.armed_until) == ("new", NOW + window)
    assert is_armed(fresh, NOW + window - 1) and not is_armed(fresh, NOW + window)
    adopted = first_row(node.model_copy(update={"adopted": True}), inv.site, NOW)
    assert (adopted.state, is_armed(adopted, NOW)) == ("installed", False)
