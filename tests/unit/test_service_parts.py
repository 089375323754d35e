"""The composition root: constructing a Seedbed starts nothing, start()/stop() own every
long-running part, and the inventory changes only through refresh()."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seedbed.service import Seedbed
from support import inventory_data, write_inventory

BACKGROUND = {"cluster-jobs", "inventory-watcher", "dnsmasq-supervisor"}


def running() -> set[str]:
    return {t.name for t in threading.enumerate()} & BACKGROUND


def with_third_node() -> dict[str, Any]:
    data = inventory_data()
    data["nodes"].append({"hostname": "gpu03", "macs": ["52:54:00:00:00:03"], "ip": "10.20.0.23",
                          "roles": ["worker"], "gpus": 0})
    return data


def test_construction_starts_nothing_and_prepares_no_cluster_folder(make_service: Callable[..., Seedbed]
                                                                     ) -> None:
    assert running() == set()
    service = make_service()
    assert running() == set()
    assert not (service.settings.state_dir / "cluster").exists()
    assert [row.hostname for row in service.store.nodes()] == ["gpu01", "gpu02"]  # rows synced


def test_start_and_stop_own_the_background_threads(make_service: Callable[..., Seedbed]) -> None:
    service = make_service()
    service.start()
    try:
        assert running() == {"cluster-jobs", "inventory-watcher"}
        assert (service.settings.state_dir / "cluster").is_dir()
    finally:
        service.stop()
    assert running() == set(), "stop() left threads running"


def test_reading_the_inventory_never_reloads_it(service: Seedbed) -> None:
    write_inventory(service.settings.inventory_path, with_third_node())
    assert len(service.inventory.nodes) == 2  # no side effect of a read
    assert service.store.node("gpu03") is None
    assert service.refresh() is True
    assert len(service.inventory.nodes) == 3 and service.store.node("gpu03") is not None
    assert service.refresh() is False  # unchanged file: nothing to take


def test_a_broken_edit_keeps_the_last_good_inventory(service: Seedbed, caplog) -> None:  # noqa: ANN001
    path: Path = service.settings.inventory_path
    path.write_text("site: [unclosed\n")
    assert service.refresh() is False
    assert len(service.inventory.nodes) == 2
    assert "not reloaded, keeping the last good one" in caplog.text


def test_the_watcher_takes_an_edited_inventory(tmp_path: Path, make_service: Callable[..., Seedbed]
                                               ) -> None:
    service = make_service()  # reload_seconds=0: the watcher looks every 50 ms
    service.start()
    try:
        write_inventory(service.settings.inventory_path, with_third_node())
        deadline = time.monotonic() + 10
        while len(service.inventory.nodes) != 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(service.inventory.nodes) == 3, "the inventory watcher did not take the edit in 10 s"
        assert service.store.node("gpu03") is not None
    finally:
        service.stop()
