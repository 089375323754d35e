"""The server's epoll loop (seedbed.eventloop): a connection is asked again only when its
answer may have changed, and none waits for the once-a-second rescan to be served.

Every test but the last turns the rescan off, so a connection the loop forgot would hang
its request instead of being found again a second later."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from flask import Flask

from seedbed import eventloop
from seedbed.eventloop import ConnectionLoop
from seedbed.httpserver import LimitedChannel, LimitedServer, ServerLimits
from support import server_in_thread, wait_for

BIG = 32 * 1024 * 1024  # more than loopback's socket buffers take at once


def _app() -> Flask:
    app = Flask("loop")

    @app.get("/work")
    def work() -> str:  # a worker thread's request
        return "done\n"

    @app.get("/big")
    def big() -> bytes:
        return b"x" * BIG

    @app.get("/nap")
    def nap() -> str:  # a memory path: the loop thread itself sleeps here
        time.sleep(0.5)
        return "nap\n"

    return app


@pytest.fixture
def added(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The descriptor of every connection the loop is told of, in order."""
    seen: list[int] = []
    told = ConnectionLoop.added

    def record(self: ConnectionLoop, fd: int) -> None:
        seen.append(fd)
        told(self, fd)

    monkeypatch.setattr(ConnectionLoop, "added", record)
    return seen


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch, added: list[int]) -> Iterator[LimitedServer]:
    monkeypatch.setattr(eventloop, "RESCAN_SECONDS", 3600.0)
    with server_in_thread(_app(), ServerLimits(threads=2, console_streams=0),
                          memory_paths=frozenset({"/nap"})) as server:
        yield server


def _url(server: LimitedServer, path: str) -> str:
    return f"http://127.0.0.1:{server.effective_port}{path}"


def _connect(server: LimitedServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", int(server.effective_port)), timeout=5)


def _ask(sock: socket.socket, path: str) -> None:
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())


def _answer(sock: socket.socket) -> bytes:
    """One answer's body off the connection (a short one, its headers in the first reads)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {data!r}"
        data += chunk
    return data.split(b"\r\n\r\n", 1)[1]


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


def test_a_keep_alive_connection_is_served_again_after_each_worker_request(server) -> None:  # noqa: ANN001
    # While a worker holds its request the connection is unsettled; once the worker is done
    # the loop must ask it again, or its next request waits for a rescan that never comes.
    with requests.Session() as session:
        for _ in range(30):
            assert session.get(_url(server, "/work"), timeout=5).text == "done\n"


def test_a_connection_that_reuses_a_closed_ones_descriptor_is_served(server, added) -> None:  # noqa: ANN001
    first = _connect(server)
    _ask(first, "/work")
    assert _answer(first) == b"done\n"
    # Its worker done, the loop watches it for reading again; until then its close would not
    # be among the events of the pass after the nap (on a busy machine, it was not).
    wait_for("the loop to watch the first connection again", lambda: (
        server.loop.events.get(added[0]) == eventloop.READ and added[0] not in server.loop.unsettled),
        timeout=5, interval=0.01)
    napping = _connect(server)
    _ask(napping, "/nap")  # the loop thread sleeps 0.5 s in this request
    time.sleep(0.2)
    first.close()  # seen by the loop after its nap, in the same pass as the next connection
    second = _connect(server)
    _ask(second, "/work")
    assert _answer(napping) == b"nap\n"
    assert _answer(second) == b"done\n"
    assert added[2] == added[0], f"no descriptor was reused ({added}): the test proves nothing"
    napping.close()
    second.close()


def test_idle_connections_are_not_asked_on_every_pass(server, monkeypatch) -> None:  # noqa: ANN001
    asked: dict[int, int] = {}
    readable = LimitedChannel.readable

    def counted(self: LimitedChannel) -> bool:
        asked[id(self)] = asked.get(id(self), 0) + 1
        return readable(self)

    idle = [_connect(server) for _ in range(40)]  # under connections_per_ip
    deadline = time.monotonic() + 5
    while len(server.active_channels) < len(idle) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert len(server.active_channels) >= len(idle), "the idle connections were not accepted"
    idle_channels = {id(c) for c in server.active_channels.values()}
    monkeypatch.setattr(LimitedChannel, "readable", counted)
    with requests.Session() as session:
        for _ in range(50):  # at least a hundred passes of the loop
            session.get(_url(server, "/work"), timeout=5).raise_for_status()
    idle_asks = sum(n for key, n in asked.items() if key in idle_channels)
    assert idle_asks <= len(idle), f"idle connections were asked {idle_asks} times in 50 requests"
    for sock in idle:
        sock.close()


def test_an_answer_a_worker_could_not_send_at_once_is_sent_by_the_loop(server) -> None:  # noqa: ANN001
    # The worker sends what the socket takes and leaves the rest to the loop, pulling the
    # trigger: the loop must then ask that connection again to learn it is writable.
    with requests.Session() as session:
        for _ in range(3):
            answer = session.get(_url(server, "/big"), timeout=10)
            assert len(answer.content) == BIG


def test_the_rescan_closes_an_idle_connection_maintenance_marked(monkeypatch) -> None:  # noqa: ANN001
    # With the rescan on: waitress's maintenance marks connections idle past channel_timeout
    # in the loop thread, outside any event on them; the rescan then closes them.
    limits = ServerLimits(threads=2, console_streams=0, idle_timeout=1.0)
    with server_in_thread(_app(), limits) as server:
        sock = _connect(server)
        sock.settimeout(10)
        started = time.monotonic()
        assert sock.recv(1) == b"", "the idle connection was not closed"
        assert time.monotonic() - started < 6
        sock.close()


def test_the_loop_ends_when_its_map_is_empty() -> None:
    loop = ConnectionLoop({})
    thread = threading.Thread(target=loop.run, args=(0.1,), daemon=True)
    thread.start()
    thread.join(2)
    assert not thread.is_alive()


class _Channel:
    """Just the state waitress's HTTPChannel shows the loop, on one end of a socket pair."""

    accepting = False
    will_close = False

    def __init__(self, sock: socket.socket, requests: int, output: int):
        self.sock, self.requests, self.total_outbufs_len = sock, [object()] * requests, output
        self.adj = type("Adj", (), {"outbuf_high_watermark": 1000})()
        self.sent = 0

    def readable(self) -> bool:  # waitress reads one request ahead (channel_request_lookahead)
        return len(self.requests) <= 1 and not self.total_outbufs_len

    def writable(self) -> bool:
        return bool(self.total_outbufs_len or self.will_close)

    def handle_write_event(self) -> None:
        self.sent += 1

    def handle_read_event(self) -> None:
        pass


def test_output_a_worker_is_still_writing_is_left_to_the_worker() -> None:
    # Waiting for EPOLLOUT while the worker holds the buffer woke the loop on every pass
    # for nothing (ten wake-ups per request in the burst); once it is done, the loop sends.
    ours, theirs = socket.socketpair()
    with ours, theirs:
        fd = ours.fileno()
        channel = _Channel(ours, requests=1, output=10)
        loop = ConnectionLoop({fd: channel})
        loop.run_once(0)
        assert loop.events.get(fd, 0) & select.EPOLLOUT == 0 and channel.sent == 0
        assert fd in loop.unsettled  # asked again on every pass
        channel.requests = []  # the worker is done (and pulled the trigger)
        loop.run_once(0)
        loop.run_once(0)
        assert loop.events[fd] & select.EPOLLOUT and channel.sent >= 1
        # A worker waiting past the high watermark needs the loop to send for it.
        channel.requests, channel.total_outbufs_len, channel.sent = [object()], 2000, 0
        loop.run_once(0)
        loop.run_once(0)
        assert loop.events[fd] & select.EPOLLOUT and channel.sent >= 1
        loop.epoll.close()
