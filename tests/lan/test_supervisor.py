"""The dnsmasq supervisor with a real dnsmasq (inside a test namespace): starts it,
restarts it when it dies, rewrites and restarts it on an inventory change, keeps the old
configuration when a new one is rejected, and stops it."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from seedbed.lan.supervisor import DnsmasqSupervisor
from support import inventory_of

from .conftest import lan_inventory
from .netns import TestLan


def _wait(check: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.1)


def _alive(pid: int | None) -> bool:
    return (
        pid is not None
        and Path(f"/proc/{pid}").exists()
        and "zombie" not in Path(f"/proc/{pid}/status").read_text().lower()
    )


def test_supervisor_lifecycle(netns_lan: TestLan, tmp_path: Path) -> None:
    # dnsmasq itself, but in the test LAN's namespace (it must not bind the host's port 67).
    wrapper = tmp_path / "dnsmasq-in-ns"
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {netns_lan.server} dnsmasq "$@"\n')
    wrapper.chmod(0o755)
    events: list[tuple[str, str]] = []
    sup = DnsmasqSupervisor(
        tmp_path / "state",
        binary=str(wrapper),
        poll_seconds=0.2,
        min_backoff=0.5,
        max_backoff=2,
        record=lambda k, m: events.append((k, m)),
    )
    first = inventory_of(lan_inventory("full"))
    assert sup.update(first) is True
    assert sup.update(first) is False  # unchanged: no rewrite, no restart
    sup.start()
    try:
        _wait(lambda: _alive(sup.pid), 10, "dnsmasq started")
        pid1 = sup.pid
        assert "10.231.0.21,gpu01" in sup.paths.conf.read_text()

        # Killed from outside: restarted after the backoff.
        os.kill(pid1, signal.SIGKILL)
        _wait(lambda: sup.pid not in (None, pid1), 10, "dnsmasq restarted after dying")
        assert any("exited" in m for _, m in events), events

        # The inventory changes: the file is rewritten and dnsmasq restarted.
        data = lan_inventory("full")
        data["nodes"][1]["ip"] = "10.231.0.42"
        pid2 = sup.pid
        assert sup.update(inventory_of(data)) is True
        _wait(lambda: sup.pid not in (None, pid2), 10, "dnsmasq restarted on change")
        assert "10.231.0.42,gpu02" in sup.paths.conf.read_text()
        assert sup.starts == 3

        # A configuration dnsmasq rejects never replaces the running one.
        good = sup.paths.conf.read_text()
        broken = tmp_path / "reject"
        broken.write_text(
            '#!/bin/sh\nfor a; do [ "$a" = --test ] && { echo bad >&2; exit 1; }; '
            f'done\nexec {wrapper} "$@"\n'
        )
        broken.chmod(0o755)
        sup.binary = str(broken)
        assert sup.update(first) is False
        assert sup.paths.conf.read_text() == good
        assert any("rejected" in m for _, m in events), events
        pid3 = sup.pid
    finally:
        sup.stop()
    assert not _alive(pid3), "dnsmasq still running after stop()"
