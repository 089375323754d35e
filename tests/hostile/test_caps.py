"""Bounded writes from strangers: discovered machines, events and reports stay within limits."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from seedbed import limits
from seedbed.service import Seedbed, Settings
from seedbed.store import Store
from seedbed.tokens import new_token, token_hash
from seedbed.web import create_app
from support import inventory_data, seed_token, write_inventory

UNKNOWN_MACS = 10_000
BIG_REPORTS = 60


def store_bytes(store: Store, settle: bool = False) -> int:
    """The database as it sits on disk: the main file plus its write-ahead log.

    settle: first copy the log into the main file and empty it, to count stored rows
    rather than the log's pages (which the checkpoint reuses; limits.WAL_MAX_BYTES).
    """
    store.settle()  # the records handed to the store's writer are in
    if settle:
        store.read().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    wal = store.path.with_name(store.path.name + "-wal")
    return store.path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def count(store: Store, sql: str, *args: object) -> int:
    store.settle()  # boots are records: written by the store's writer thread, soon after
    return int(store.read().execute(sql, args).fetchone()[0])


def unknown_mac(i: int) -> str:
    return "02:00:" + ":".join(f"{(i >> s) & 255:02x}" for s in (24, 16, 8, 0))


@pytest.fixture
def memory_state(tmp_path: Path) -> Iterator[Path]:
    """A state folder in RAM where there is one: this test counts bytes, not fsyncs (~10x faster)."""
    if not Path("/dev/shm").is_dir():
        yield tmp_path / "state"
        return
    folder = Path(tempfile.mkdtemp(dir="/dev/shm", prefix="seedbed-caps-"))
    try:
        yield folder / "state"
    finally:
        shutil.rmtree(folder)


def test_a_flood_of_unknown_macs_keeps_the_store_bounded(tmp_path: Path, memory_state: Path,  # noqa: ANN001
                                                         clock) -> None:
    """Before: 10,000 unknown MACs left 10,000 discovered rows and 10,000 events."""
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    service = Seedbed(Settings(inventory, memory_state, reload_seconds=0), clock)
    client = create_app(service).test_client()
    admin = new_token()
    service.store.add_admin_token(token_hash(admin), "tests")
    facts = "&buildarch=" + "a" * 64 + "&platform=" + "p" * 64 + "&uuid=" + "u" * 64
    sizes = {}
    started = time.monotonic()
    for i in range(UNKNOWN_MACS):
        assert client.get(f"/ipxe?mac={unknown_mac(i)}{facts}").status_code == 200, i
        if i + 1 in (UNKNOWN_MACS // 4, UNKNOWN_MACS):
            sizes[i + 1] = store_bytes(service.store)
            sizes[f"{i + 1} settled"] = store_bytes(service.store, settle=True)
    took = time.monotonic() - started
    print(f"\n{UNKNOWN_MACS} unknown MACs in {took:.1f}s; store bytes: {sizes}")
    store = service.store
    assert count(store, "SELECT COUNT(*) FROM discovered") == limits.DISCOVERED_MAX
    assert count(store, "SELECT COUNT(*) FROM events WHERE hostname IS NULL") == \
        limits.EVENTS_WITHOUT_NODE
    assert store.dropped("discovered") == UNKNOWN_MACS - limits.DISCOVERED_MAX
    assert store.dropped("without-node") == UNKNOWN_MACS - limits.EVENTS_WITHOUT_NODE
    listed = client.get("/api/v1/discovered", headers={"Authorization": f"Bearer {admin}"}).json
    assert listed["dropped"] == UNKNOWN_MACS - limits.DISCOVERED_MAX
    # The newest strangers are the ones kept.
    assert unknown_mac(UNKNOWN_MACS - 1) in {d["mac"] for d in listed["discovered"]}
    # Once the caps are reached the file stops growing: freed pages are reused.
    quarter, end = sizes[f"{UNKNOWN_MACS // 4} settled"], sizes[f"{UNKNOWN_MACS} settled"]
    assert end <= quarter + 64 * 1024, sizes
    assert sizes[UNKNOWN_MACS] < 2 * limits.WAL_MAX_BYTES, sizes


def test_a_known_node_still_boots_after_the_flood(client, service) -> None:  # noqa: ANN001
    for i in range(limits.DISCOVERED_MAX + 50):
        client.get(f"/ipxe?mac={unknown_mac(i)}")
    assert "/seed/" in client.get("/ipxe?mac=52:54:00:00:00:01").text


def test_reboot_flood_of_an_armed_node_keeps_its_installs_bounded(client, service) -> None:  # noqa: ANN001
    boots = limits.INSTALLS_PER_NODE * 3
    tokens = [seed_token(client.get("/ipxe?mac=52:54:00:00:00:01").text) for _ in range(boots)]
    installs = count(service.store, "SELECT COUNT(*) FROM installs WHERE hostname = 'gpu01'")
    assert installs == limits.INSTALLS_PER_NODE
    assert service.store.dropped("installs:gpu01") == boots - limits.INSTALLS_PER_NODE
    assert client.get(f"/seed/{tokens[-1]}/meta-data").status_code == 200
    assert client.get(f"/seed/{tokens[0]}/meta-data").status_code == 404  # rolled off
    assert client.get(f"/seed/{tokens[-2]}/meta-data").status_code == 403  # superseded


@pytest.fixture
def token(client) -> str:  # noqa: ANN001
    return seed_token(client.get("/ipxe?mac=52:54:00:00:00:01").text)


def test_big_reports_are_cut_to_the_field_limit(client, service, token: str) -> None:  # noqa: ANN001
    """Before: sixty 1 MiB reports on one token grew the store by 62 MB in 1.3 s."""
    before = store_bytes(service.store, settle=True)
    blob = "x" * (limits.REQUEST_MAX_BYTES - 4096)  # just under the request limit
    for i in range(BIG_REPORTS):
        response = client.post(f"/api/v1/report/{token}", json={
            "name": f"cmd-install/stage-{i}", "event_type": "finish", "description": blob,
            "origin": blob[:1000], "result": "SUCCESS"})
        assert response.status_code == 200, response.json
    grew = store_bytes(service.store, settle=True) - before
    print(f"\n{BIG_REPORTS} reports of ~1 MiB grew the store by {grew / 1024:.0f} KiB")
    assert grew < 512 * 1024
    [event] = [e for e in service.store.events("gpu01") if e.message.startswith("finish cmd-install"
                                                                                 "/stage-0")]
    assert len(event.data["description"]) == limits.REPORT_FIELD_CHARS


def test_reports_per_token_are_rate_limited(client, service, clock, token: str) -> None:  # noqa: ANN001
    def post(i: int) -> int:
        return client.post(f"/api/v1/report/{token}",
                           json={"name": f"step-{i}", "event_type": "start"}).status_code

    codes = [post(i) for i in range(limits.REPORTS_PER_MINUTE + 5)]
    assert codes.count(200) == limits.REPORTS_PER_MINUTE and codes[-5:] == [429] * 5
    refused = client.post(f"/api/v1/report/{token}", json={"name": "x", "event_type": "start"})
    assert "at most" in refused.json["error"]
    clock.advance(61)
    assert post(-1) == 200  # a new minute


def test_events_per_install_roll_off_with_a_count(client, service, clock, token: str,  # noqa: ANN001
                                                  admin_headers) -> None:
    total = limits.EVENTS_PER_INSTALL + 150
    for i in range(total):
        if i % (limits.REPORTS_PER_MINUTE // 2) == 0:
            clock.advance(61)  # stay under the rate limit: this test is about the count cap
        assert client.post(f"/api/v1/report/{token}",
                           json={"name": f"step-{i}", "event_type": "start"}).status_code == 200
    store = service.store
    install_id = store.node("gpu01").install_id
    kept = count(store, "SELECT COUNT(*) FROM events WHERE install_id = ?", install_id)
    assert kept == limits.EVENTS_PER_INSTALL
    # The boot event and the oldest reports went first; the newest report is kept.
    assert store.dropped(f"install:{install_id}") == total + 1 - limits.EVENTS_PER_INSTALL
    events = client.get("/api/v1/nodes/gpu01/events?limit=10000", headers=admin_headers).json
    assert events["events"][-1]["message"] == f"start step-{total - 1}"
    assert events["dropped"] == store.dropped("node:gpu01")


def test_events_per_node_roll_off_across_installs(service, clock) -> None:  # noqa: ANN001
    store = service.store
    with store.transaction() as db:
        for i in range(limits.EVENTS_PER_NODE + 10):
            store.add_event(db, clock.now, "admin", f"event {i}", hostname="gpu02")
    assert count(store, "SELECT COUNT(*) FROM events WHERE hostname = 'gpu02'") == \
        limits.EVENTS_PER_NODE
    assert store.dropped("node:gpu02") == 10 and store.events("gpu02")[-1].message.endswith(
        str(limits.EVENTS_PER_NODE + 9))


def test_an_oversize_facts_report_is_refused(client, token: str) -> None:  # noqa: ANN001
    body = {"hostname": "gpu01", "padding": "x" * limits.FACTS_MAX_BYTES}
    response = client.post(f"/api/v1/callback/{token}/ready", json=body)
    assert response.status_code == 413 and "FactsReport body is at most" in response.json["error"]


def test_the_limits_are_documented(request: pytest.FixtureRequest) -> None:
    readme = (Path(request.config.rootpath) / "README.md").read_text()
    for name in ("DISCOVERED_MAX", "EVENTS_PER_NODE", "EVENTS_PER_INSTALL", "REPORTS_PER_MINUTE",
                 "INVENTORY_MAX_BYTES", "INSTALLS_PER_NODE", "INVENTORY_MAX_VALUES"):
        value = getattr(limits, name)
        assert f"{value:,}" in readme or str(value) in readme, f"{name} = {value} not in README"
