"""waitress's "Task queue depth" warning, one line per queued request, is summed up instead:
one line per QUEUE_REPORT_SECONDS with the count and the deepest queue."""

from __future__ import annotations

import logging
import threading
import time

import pytest
from flask import Flask

from seedbed.httpserver import QUEUE_REPORT_SECONDS, QueueDepth, ServerLimits, build_server
from support import free_port


def test_queued_requests_are_reported_once_per_interval(caplog: pytest.LogCaptureFixture) -> None:
    depth = QueueDepth()
    start = depth.reported_at
    for n in (2, 5, 1):
        depth.warning("Task queue depth is %d", n)  # as waitress calls it
    with caplog.at_level(logging.WARNING, logger="seedbed.server"):
        depth.report(start + QUEUE_REPORT_SECONDS / 2)
        assert caplog.records == [], "reported before the interval ended"
        depth.report(start + QUEUE_REPORT_SECONDS + 1)
        depth.report(start + 3 * QUEUE_REPORT_SECONDS)  # nothing waited since: no line
    assert [r.getMessage() for r in caplog.records] == [
        f"3 requests waited for a worker thread in the last {QUEUE_REPORT_SECONDS + 1:.0f} s "
        "(at most 5 waiting); if this persists with requests slow, raise --threads"]


class _Blocked:
    """A waitress task that holds its thread until released."""

    def __init__(self, release: threading.Event):
        self.release = release

    def service(self) -> None:
        self.release.wait(10)

    def cancel(self) -> None:
        self.release.set()


def test_the_server_counts_rather_than_logs_each_queued_request(
        caplog: pytest.LogCaptureFixture) -> None:
    server = build_server(Flask("t"), "127.0.0.1", free_port(),
                          ServerLimits(threads=1, console_streams=0))
    release = threading.Event()
    try:
        dispatcher = server.task_dispatcher
        with caplog.at_level(logging.DEBUG):
            for _ in range(4):  # the one thread takes the first; three wait behind it
                dispatcher.add_task(_Blocked(release))
                time.sleep(0.05)
        assert [r for r in caplog.records if r.name.startswith("waitress")] == []
        assert dispatcher.queue_logger.waited >= 3 and dispatcher.queue_logger.deepest >= 3
    finally:
        release.set()
        server.close()
        server.task_dispatcher.shutdown()
