"""The console in a real browser: Playwright driving Debian's chromium against a live
`seedbed serve` on loopback, while the test posts the machine's side (boot, seed, the
recorded installer events, callbacks) over HTTP as a machine would.

Screenshots of each page go to $SEEDBED_SCREENSHOTS (default build/console-screenshots);
docs/console-*.png are two of them. Every page and fragment the browser received is
grepped for the lab's secrets at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from power.bmc import RedfishEmulator
from power.conftest import REDFISH_PASSWORD
from seedbed.power.secrets import FILE_NAME, SecretsFile
from seedbed.progress import AUTOINSTALL_STEPS
from support import ServeProcess

from .conftest import CONSOLE_PASSWORD, Pages, console_inventory
from .live_lab import start_serve
from .replay import boot, healthy_report, recorded, replay

playwright_api = pytest.importorskip("playwright.sync_api",
                                     reason="playwright (the [test] extra) is not installed")
expect = playwright_api.expect

REPO = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("SEEDBED_SCREENSHOTS") or REPO / "build" / "console-screenshots")
WAIT_MS = 15_000  # every wait on the page is bounded by this
expect.set_options(timeout=WAIT_MS)
STRANGER = "52:54:00:99:00:07"


def chromium() -> str:
    found = os.environ.get("SEEDBED_CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium; or set SEEDBED_CHROMIUM)")
    return found


@pytest.fixture(scope="module")
def bmc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedfishEmulator]:
    """The Redfish emulator as the BMC of the lab's node bmc01."""
    emulator = RedfishEmulator(tmp_path_factory.mktemp("redfish"), "root", REDFISH_PASSWORD).start()
    yield emulator
    emulator.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, bmc: RedfishEmulator) -> Iterator[ServeProcess]:
    work = tmp_path_factory.mktemp("browser")
    data = console_inventory()
    data["nodes"].append({**data["nodes"][1], "hostname": "bmc01", "macs": ["52:54:00:00:00:31"],
                          "ip": "10.20.0.31", "power": {"driver": "redfish", "address": bmc.url,
                                                        "username": "root"}})
    SecretsFile(work / "state" / FILE_NAME).set("bmc01", REDFISH_PASSWORD)
    live = start_serve(work, data=data)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def pages() -> Pages:
    return Pages()


@pytest.fixture(scope="module")
def browser(pages: Pages, server: ServeProcess) -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()
    pages.assert_no_secret(_secrets(server))


def _secrets(server: ServeProcess) -> dict[str, str]:
    state = server.state
    inventory = console_inventory()
    return {"console password": CONSOLE_PASSWORD,
            "node admin crypt hash": inventory["admin"]["password_hash"],
            "LDAP bind password": inventory["ldap"]["bind_password"],
            "Rancher password": inventory["cluster"]["rancher"]["bootstrap_password"],
            "console password hash": (state / "admin-password").read_text().strip().split("$")[-1],
            "session key": (state / "console-secret").read_bytes().hex(),
            "BMC password": REDFISH_PASSWORD}


def _recording(context: Any, pages: Pages) -> Any:
    """A page whose every HTML answer (pages and htmx fragments) is kept for the secret grep."""
    def keep(response: Any) -> None:
        if "text/html" in (response.headers.get("content-type") or ""):
            with contextlib.suppress(playwright_api.Error):  # a redirect's answer has no body
                pages.keep(f"browser {response.url}", response.text())

    page = context.new_page()
    page.on("response", keep)
    page.set_default_timeout(WAIT_MS)
    return page


def _sign_in(page: Any, url: str, password: str = CONSOLE_PASSWORD) -> None:
    page.goto(f"{url}/")
    expect(page.locator("h1")).to_have_text("Sign in to seedbed")
    page.fill("#password", password)
    page.click("button[type=submit]")


@pytest.fixture(scope="module")
def admin(browser: Any, server: ServeProcess, pages: Pages) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = _recording(context, pages)
    _sign_in(page, server.url)
    expect(page.locator("h1")).to_have_text("Machines")
    yield page
    context.close()


def shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_sign_in_refuses_a_wrong_password_then_shows_the_lab(browser: Any, server: ServeProcess,
                                                             pages: Pages) -> None:
    context = browser.new_context()
    page = _recording(context, pages)
    _sign_in(page, server.url, "not-the-password")
    expect(page.locator("p.error")).to_contain_text("not the admin password")
    shot(page, "console-sign-in")
    page.fill("#password", CONSOLE_PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Machines")
    for hostname in ("gpu01", "gpu02"):
        expect(page.locator(f"#machine-{hostname}")).to_be_visible()
    context.close()


def _http(server: ServeProcess) -> tuple[Any, Any]:
    def get(path: str) -> Any:
        return requests.get(f"{server.url}{path}", timeout=10)

    def post(path: str, body: Any = None) -> Any:
        return requests.post(f"{server.url}{path}", json=body, timeout=10)

    return get, post


def test_an_install_moves_live_on_its_page(admin: Any, server: ServeProcess) -> None:
    get, post = _http(server)
    machines = admin.context.new_page()  # a second tab on the machines list, live as well
    machines.set_default_timeout(WAIT_MS)
    machines.goto(f"{server.url}/")
    admin.goto(f"{server.url}/console/machines/gpu02")
    expect(admin.locator("#state")).to_have_text("new")
    started = time.monotonic()
    token = boot(get, "52:54:00:00:00:02")
    expect(admin.locator("#state")).to_have_text("installing")  # no reload: the stream said so
    events = recorded("success")["events"]
    cut = next(i for i, e in enumerate(events) if "extract step" in e.get("description", ""))
    replay(post, token, events[:cut + 1], lambda _s: None)
    current = admin.locator("ol.steps li.current")
    expect(current).to_contain_text("Copying the system")
    # Nothing timed yet in this lab: the steps before it count, the current one not yet.
    before = sum(s.share for s in AUTOINSTALL_STEPS[:[s.key for s in AUTOINSTALL_STEPS].index("extract")])
    expect(admin.locator("#progress progress")).to_have_attribute("value", str(before))
    shot(admin, "console-install-progress")
    expect(machines.locator("#machine-gpu02")).to_contain_text("Copying the system")
    shot(machines, "console-machines")
    machines.close()
    replay(post, token, events[cut + 1:], lambda _s: None)
    expect(current).to_contain_text("Provisioning")
    assert post(f"/api/v1/callback/{token}/installed").status_code == 200
    expect(current).to_contain_text("First boot")
    assert post(f"/api/v1/callback/{token}/ready", healthy_report("gpu02", 0)).json()["status"] == "ready"
    expect(admin.locator("#state")).to_have_text("ready")
    expect(admin.locator("#progress")).to_contain_text("100%")
    print(f"\nbrowser followed {len(events)} installer events to ready in {time.monotonic() - started:.1f}s")
    timeline = admin.locator("#timeline")
    for line in ("seed user-data fetched", "executing curtin install extract step", "ready"):
        expect(timeline).to_contain_text(line)
    admin.click("text=show every event")
    expect(admin.locator("#timeline")).to_contain_text("finish subiquity/Late/run: SUCCESS")
    admin.goto(f"{server.url}/")
    expect(admin.locator("#machine-gpu02")).to_contain_text("ready")


def test_arming_a_reinstall_shows_its_event(admin: Any, server: ServeProcess) -> None:
    admin.goto(f"{server.url}/console/machines/gpu01")
    admin.fill("#minutes", "45")
    admin.check("input[name=confirm]")
    admin.click("text=Arm reinstall")
    expect(admin.locator("#timeline")).to_contain_text("armed for reinstall for 0.8h by console:admin")
    expect(admin.locator("#state")).to_have_text("armed")


def test_powering_a_node_on_goes_through_its_confirm_to_the_bmc(admin: Any, server: ServeProcess,
                                                                bmc: RedfishEmulator) -> None:
    admin.goto(f"{server.url}/console/machines/bmc01")
    expect(admin.locator("#power")).to_contain_text(bmc.url)
    power_on = admin.locator("#power-actions form").filter(has=admin.locator("input[value=on]"))
    power_on.locator("button").click()  # not confirmed yet: the browser keeps the form
    assert not [r for r in bmc.requests if r["path"].endswith(".Reset")]
    power_on.locator("input[name=confirm]").check()
    power_on.locator("button").click()
    # The service's runner does the job; its outcome reaches the page through the stream.
    expect(admin.locator("#power-jobs")).to_contain_text("succeeded", timeout=30_000)
    expect(admin.locator("#timeline")).to_contain_text("power on queued by console:admin")
    resets = [r["body"]["ResetType"] for r in bmc.requests if r["path"].endswith(".Reset")]
    assert resets == ["On"], resets
    shot(admin, "console-power")


def test_accepting_a_discovered_machine_changes_the_inventory(admin: Any, server: ServeProcess) -> None:
    get, _ = _http(server)
    admin.goto(f"{server.url}/")
    assert get(f"/ipxe?mac={STRANGER}").status_code == 200
    row = admin.locator(f'[id="discovered-{STRANGER}"]')
    expect(row).to_be_visible()  # arrived through the live stream
    row.locator("text=Accept").click()
    admin.fill("#hostname", "gpu07")
    admin.fill("#ip", "192.168.50.7")  # outside the lab's subnet
    admin.fill("#gpus", "1")
    admin.click("text=Add to the inventory")
    expect(admin.locator("#error-ip")).to_contain_text("subnet")
    shot(admin, "console-accept-error")
    assert "gpu07" not in server.inventory.read_text()
    admin.fill("#ip", "10.20.0.27")
    admin.click("text=Add to the inventory")
    expect(admin.locator("h1")).to_have_text("gpu07")
    nodes = yaml.safe_load(server.inventory.read_text())["nodes"]
    assert {"hostname": "gpu07", "macs": [STRANGER], "ip": "10.20.0.27", "roles": ["worker"],
            "gpus": 1} in nodes, nodes[-1]
    expect(admin.locator("#timeline")).to_contain_text("accepted as gpu07 by console:admin")


def test_cluster_page_follows_a_job_log(admin: Any, server: ServeProcess) -> None:
    admin.goto(f"{server.url}/console/cluster")
    expect(admin.locator("#rancher-url")).to_have_text("https://rancher.lab.test")
    admin.check("input[name=confirm]")
    admin.click("text=Queue a cluster job")
    # The job runs in the service; its log reaches the page through the stream.
    expect(admin.locator("#job-log")).to_contain_text("rke", timeout=30_000)
    expect(admin.locator("#live")).to_contain_text("failed", timeout=30_000)
    shot(admin, "console-cluster")


def test_csrf_and_no_session_are_refused(browser: Any, admin: Any, server: ServeProcess) -> None:
    forged = admin.request.post(f"{server.url}/console/machines/gpu02/reinstall",
                                form={"minutes": "5", "confirm": "yes"}, max_redirects=0)
    assert forged.status == 403, "a signed-in POST without the CSRF token"
    stranger = browser.new_context()
    answer = stranger.request.get(f"{server.url}/console/machines/gpu02?part=live",
                                  headers={"HX-Request": "true"}, max_redirects=0)
    assert answer.status == 401
    page = stranger.request.get(f"{server.url}/console/cluster", max_redirects=0)
    assert (page.status, page.headers["location"]) == (303, "/console/login")
    stranger.close()


def _fits_the_screen(page: Any, what: str) -> None:
    width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width[0] <= width[1] + 1, f"the {what} page is wider than a phone: {width}"


def test_a_phone_without_javascript_can_sign_in_and_act(browser: Any, server: ServeProcess,
                                                         pages: Pages) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, java_script_enabled=False,
                                  is_mobile=True)
    page = _recording(context, pages)
    _sign_in(page, server.url)
    expect(page.locator("h1")).to_have_text("Machines")
    _fits_the_screen(page, "machines")
    shot(page, "console-phone")
    page.goto(f"{server.url}/console/machines/gpu02")
    _fits_the_screen(page, "machine gpu02")
    page.check("input[name=confirm]")
    page.click("text=Arm reinstall")
    expect(page.locator("#timeline")).to_contain_text("armed for reinstall")
    context.close()
