"""Power in the console: the Machine page shows each node's driver, its polled power state
and the actions its driver can do; a confirmed form queues the same power job as the CLI and
the admin API, against the Redfish emulator (sushy-tools) on loopback."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from power.bmc import RedfishEmulator
from power.conftest import OPTIONS, REDFISH_PASSWORD, power_inventory, redfish  # noqa: F401 - fixture

from .conftest import Console, console_inventory, console_lab

PAGE = "/console/machines/{}"
ACTION = "/console/machines/{}/power"


@pytest.fixture
def lab(tmp_path: Path, redfish: RedfishEmulator) -> Iterator[Console]:  # noqa: F811
    """Signed in, on a lab whose nodes have IPMI (no credential yet), Redfish, WoL and manual power."""
    data = console_inventory()
    data["nodes"] = power_inventory("127.0.0.1:9", redfish.url)["nodes"]
    for console in console_lab(tmp_path, data, power=OPTIONS):
        console.service.power.secrets.set("rack1-redfish", REDFISH_PASSWORD)
        assert console.sign_in().status_code == 303, "stage sign-in"
        yield console


def _text(answer: Any) -> str:
    return html.unescape(answer.get_data(as_text=True))


def _buttons(console: Console, hostname: str) -> list[str]:
    page = _text(console.get(PAGE.format(hostname)))
    return [a for a in ("on", "off", "cycle", "reinstall")
            if f'name="action" value="{a}"' in page]


def test_buttons_only_for_what_the_driver_can_do(lab: Console) -> None:
    assert _buttons(lab, "bmc-redfish") == ["on", "off", "cycle", "reinstall"]
    assert _buttons(lab, "wol-node") == ["on", "reinstall"]  # a magic packet only wakes
    assert _buttons(lab, "desk-node") == []
    assert _buttons(lab, "bmc-ipmi") == []  # no credential: says how to set one
    assert "seedbed power set-credentials bmc-ipmi" in _text(lab.get(PAGE.format("bmc-ipmi")))


def test_manual_node_shows_the_drivers_exact_instructions(lab: Console) -> None:
    page = _text(lab.get(PAGE.format("desk-node")))
    assert "Manual power control: desk-node is armed: power it on (or restart it), open its " \
           "boot menu (often F12) and choose network (PXE) boot; it is under the desk in room 3" in page
    csrf = lab.csrf(PAGE.format("desk-node"))
    refused = lab.post(ACTION.format("desk-node"), data={"csrf": csrf, "action": "on", "confirm": "yes"})
    assert refused.status_code == 409 and "press desk-node's power button" in _text(refused)
    assert lab.service.power.jobs.recent("desk-node", 5) == []


def test_a_confirmed_click_queues_the_job_the_bmc_carries_out(lab: Console,
                                                             redfish: RedfishEmulator) -> None:  # noqa: F811
    url, csrf = ACTION.format("bmc-redfish"), lab.csrf(PAGE.format("bmc-redfish"))
    assert redfish.system()["power_state"] == "Off"
    assert lab.post(url, data={"csrf": csrf, "action": "reinstall"}).status_code == 400  # unconfirmed
    assert lab.post(url, data={"csrf": csrf, "action": "dance", "confirm": "yes"}).status_code == 409
    assert lab.service.power.jobs.recent("bmc-redfish", 5) == []
    answer = lab.post(url, data={"csrf": csrf, "action": "reinstall", "minutes": "30", "confirm": "yes"})
    assert (answer.status_code, answer.headers["Location"]) == (303, PAGE.format("bmc-redfish"))
    assert lab.service.store.node("bmc-redfish").state == "armed"  # as reinstall --power arms
    [queued] = lab.service.power.jobs.recent("bmc-redfish", 5)
    assert (queued.action, queued.who, queued.state) == ("reinstall", "console:admin", "queued")
    busy = lab.post(url, data={"csrf": csrf, "action": "off", "confirm": "yes"})
    assert busy.status_code == 409 and "one at a time" in _text(busy)
    job = lab.service.power.run_until_done(queued.id, 30)
    assert job.state == "succeeded", job.outcome
    resets = [r["body"]["ResetType"] for r in redfish.requests if r["path"].endswith(".Reset")]
    assert resets == ["On"], resets  # the emulator's system was off: cycling it is powering on
    assert redfish.system()["boot_device"] == "Pxe"  # the next boot, once, from the network
    lab.service.power.read_status("bmc-redfish")
    page = _text(lab.get(PAGE.format("bmc-redfish") + "?part=live"))  # what the stream refreshes
    assert f"#{job.id}</td><td>reinstall</td><td>console:admin</td><td class=\"state\">succeeded" in page
    assert f"power reinstall queued by console:admin (job #{job.id})" in page
    assert 'id="power-state">' in page and "read 0 s ago" in page


def test_power_state_is_shown_with_its_age(lab: Console, redfish: RedfishEmulator) -> None:  # noqa: F811
    assert 'id="power-state">not read yet' in _text(lab.get(PAGE.format("bmc-redfish")))
    lab.service.power.read_status("bmc-redfish")
    lab.service.lifecycle.clock.advance(125)  # type: ignore[attr-defined]
    page = _text(lab.get(PAGE.format("bmc-redfish")))
    assert 'id="power-state">off</span> <span class="muted">read 2 min ago' in page


def test_csrf_less_and_sessionless_posts_are_refused(lab: Console) -> None:
    url = ACTION.format("bmc-redfish")
    forged = lab.post(url, data={"action": "off", "confirm": "yes"})
    assert forged.status_code == 403, "signed in, no CSRF token"
    stranger = Console(lab.service, lab.pages)  # a valid CSRF token of its own, not signed in
    refused = stranger.post(url, data={"csrf": stranger.csrf(), "action": "off", "confirm": "yes"})
    assert (refused.status_code, refused.headers.get("Location")) == (303, "/console/login")
    assert lab.service.power.jobs.recent("bmc-redfish", 5) == []


STRANGER = "52:54:00:99:00:08"


def _accept_form(lab: Console, redfish_url: str, **fields: str) -> Any:
    assert lab.client.get(f"/ipxe?mac={STRANGER}").status_code == 200, "stage discovery boot"
    csrf = lab.csrf(f"/console/discovered/{STRANGER}")
    data = {"csrf": csrf, "hostname": "gpu09", "ip": "10.20.0.29", "roles": ["worker"], "gpus": "0",
            "power_driver": "redfish", "power_address": redfish_url, "power_username": "root",
            "power_secret": "rack1-redfish", "power_on": "yes"} | fields
    return lab.post(f"/console/discovered/{STRANGER}/accept", data=data)


def test_accept_with_power_on_queues_the_new_nodes_power_job(lab: Console,
                                                             redfish: RedfishEmulator) -> None:  # noqa: F811
    answer = _accept_form(lab, redfish.url)
    assert (answer.status_code, answer.headers["Location"]) == (303, PAGE.format("gpu09"))
    node = lab.service.inventory.node_by_hostname("gpu09")
    assert node is not None and node.power is not None and node.power.driver == "redfish"
    [queued] = lab.service.power.jobs.recent("gpu09", 5)
    assert (queued.action, queued.who) == ("reinstall", "console:admin")
    assert lab.service.store.node("gpu09").state == "new"  # armed as a new node already
    job = lab.service.power.run_until_done(queued.id, 30)
    assert job.state == "succeeded", job.outcome
    assert redfish.system()["boot_device"] == "Pxe"
    resets = [r["body"]["ResetType"] for r in redfish.requests if r["path"].endswith(".Reset")]
    assert resets == ["On"], resets
    timeline = _text(lab.get(PAGE.format("gpu09")))
    assert "power reinstall queued by console:admin" in timeline
    assert f"{STRANGER} accepted as gpu09 by console:admin" in timeline


def test_accept_power_fields_are_checked_and_power_on_needs_a_driver(
        lab: Console, redfish: RedfishEmulator) -> None:  # noqa: F811
    bad = _accept_form(lab, "bmc.lab")  # not http(s)://
    assert bad.status_code == 422 and "is not http(s)://" in _text(bad)
    no_driver = _accept_form(lab, "", power_driver="", power_username="", power_secret="")
    assert no_driver.status_code == 422 and "power_on needs a power: driver" in _text(no_driver)
    assert lab.service.inventory.node_by_hostname("gpu09") is None
    plain = _accept_form(lab, "", power_driver="", power_username="", power_secret="", power_on="")
    assert plain.status_code == 303  # without a driver nothing changes
    assert lab.service.power.jobs.recent("gpu09", 5) == []
