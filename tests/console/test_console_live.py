"""The console's live stream through waitress (a real `seedbed serve`): not buffered, capped,
freed when the browser goes, and never in the way of the machine-facing endpoints."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from seedbed import limits
from support import ServeProcess

from .live_lab import signed_in_session, start_serve

STREAMS = 2


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    server = start_serve(tmp_path_factory.mktemp("live"), "--console-streams", str(STREAMS))
    yield server
    server.stop()


def _open(session: requests.Session, url: str) -> requests.Response:
    stream = session.get(f"{url}/console/live", stream=True, timeout=(5, 5),
                         headers={"Accept": "text/event-stream"})
    # One line reader per stream, unbuffered: a second iter_lines would drop what the first read.
    stream.lines = stream.iter_lines(chunk_size=1, decode_unicode=True)  # type: ignore[attr-defined]
    return stream


def _next_event(stream: requests.Response, within: float) -> tuple[str, float]:
    """The next `event:` line of the stream and how long it took (comments skipped)."""
    started = time.monotonic()
    for line in stream.lines:  # type: ignore[attr-defined]
        if line.startswith("event:"):
            return line.split(":", 1)[1].strip(), time.monotonic() - started
        assert time.monotonic() - started < within, f"no event within {within}s"
    raise AssertionError("the stream ended")


def test_a_change_reaches_the_stream_at_once(live: ServeProcess) -> None:
    session = signed_in_session(live.url)
    with _open(session, live.url) as stream:
        assert stream.status_code == 200 and stream.headers["Content-Type"].startswith("text/event-stream")
        assert stream.headers.get("Content-Length") is None  # streamed, not buffered whole
        assert _next_event(stream, 5)[0] == "hello"
        assert requests.get(f"{live.url}/ipxe", params={"mac": "52:54:00:00:00:02"}, timeout=10).ok
        kind, seconds = _next_event(stream, 2 * limits.CONSOLE_STREAM_POLL_SECONDS + 3)
        assert kind == "changed"
        print(f"\nchange seen on the stream {seconds:.2f}s after the boot")


def _open_all(session: requests.Session, url: str) -> list[requests.Response]:
    """Every stream slot, waiting for those of earlier tests' closed streams to be freed."""
    streams: list[requests.Response] = []
    deadline = time.monotonic() + 2 * limits.CONSOLE_STREAM_POLL_SECONDS + 3
    while len(streams) < STREAMS and time.monotonic() < deadline:
        stream = _open(session, url)
        if stream.status_code == 200:
            streams.append(stream)
        else:
            stream.close()
            time.sleep(0.5)
    assert len(streams) == STREAMS, "stream slots were not freed after their clients left"
    return streams


def test_streams_are_capped_and_machines_still_get_answers(live: ServeProcess) -> None:
    session = signed_in_session(live.url)
    streams = _open_all(session, live.url)
    try:
        for s in streams:
            assert _next_event(s, 5)[0] == "hello"
        refused = _open(session, live.url)
        assert refused.status_code == 503 and "limit 2" in refused.text
        started = time.monotonic()
        for _ in range(20):  # every stream slot taken: the machine side still has its threads
            assert requests.get(f"{live.url}/healthz", timeout=5).ok
            assert requests.get(f"{live.url}/ipxe", params={"mac": "52:54:00:00:00:99"}, timeout=5).ok
        print(f"\n40 machine requests with every stream open: {time.monotonic() - started:.2f}s")
        assert session.get(f"{live.url}/", timeout=5).status_code == 200  # pages too
    finally:
        for s in streams:
            s.close()
    # A closed stream ends (its slot freed) within a poll: waitress says the client went.
    closed = time.monotonic()
    while time.monotonic() < closed + 2 * limits.CONSOLE_STREAM_POLL_SECONDS + 3:
        again = _open(session, live.url)
        if again.status_code == 200:
            again.close()
            print(f"slot freed {time.monotonic() - closed:.1f}s after the streams closed")
            return
        again.close()
        time.sleep(0.5)
    raise AssertionError("the slots of closed streams were not freed")


def test_the_stream_refuses_without_a_session(live: ServeProcess) -> None:
    answer = requests.get(f"{live.url}/console/live", headers={"Accept": "text/event-stream"}, timeout=5)
    assert answer.status_code == 401


def test_the_stream_limit_is_a_serve_flag(tmp_path: Path) -> None:
    from seedbed.httpserver import ServerLimits

    limits_ = ServerLimits(threads=4, console_streams=3)
    assert limits_.waitress_adjustments("127.0.0.1", 1)["threads"] == 7
