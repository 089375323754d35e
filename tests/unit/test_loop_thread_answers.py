"""Requests for the server's `memory_paths` are answered by its connection loop thread, in order
with the rest of their connection, and never while a client leaves its answers unread."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import requests
from flask import Flask, request

from seedbed.httpserver import INLINE_OUTBUF_BYTES, LimitedServer, ServerLimits
from support import server_in_thread

BIG = 128 * 1024  # the body of /big: a reader that does not read fills buffers fast


def _app() -> Flask:
    app = Flask("loop")

    @app.route("/mem", methods=["GET", "POST"])
    @app.get("/other")
    def who() -> str:
        return f"{request.args.get('n', '-')} {threading.current_thread().name}\n"

    @app.get("/big")
    def big() -> str:
        return f"{request.args.get('n', '-')} {threading.current_thread().name}\n".ljust(BIG, ".")

    return app


@pytest.fixture
def server() -> Iterator[LimitedServer]:
    with server_in_thread(_app(), ServerLimits(threads=2, console_streams=0),
                          memory_paths=frozenset({"/mem", "/big"})) as server:
        yield server


def _url(server: LimitedServer, path: str) -> str:
    return f"http://127.0.0.1:{server.effective_port}{path}"


def _pipelined(server: LimitedServer, paths: list[str], rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(20)
    sock.connect(("127.0.0.1", int(server.effective_port)))
    sock.sendall(b"".join(f"GET {p} HTTP/1.1\r\nHost: t\r\n\r\n".encode() for p in paths))
    return sock


def _bodies(sock: socket.socket, count: int) -> list[str]:
    """`count` answers read off a keep-alive connection: each body's first line."""
    reader = sock.makefile("rb")
    found = []
    for _ in range(count):
        length = 0
        while (line := reader.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        found.append(reader.read(length).split(b"\n")[0].decode())
    return found


def test_a_memory_path_is_answered_by_the_loop_thread_and_the_rest_by_workers(server) -> None:  # noqa: ANN001
    assert requests.get(_url(server, "/mem"), timeout=10).text == "- connection-loop\n"
    assert requests.get(_url(server, "/other"), timeout=10).text.startswith("- waitress-")
    assert requests.post(_url(server, "/mem"), timeout=10).text.startswith("- waitress-")


def test_pipelined_requests_keep_their_order_across_loop_and_workers(server) -> None:  # noqa: ANN001
    paths = [f"/{'other' if n % 7 == 3 else 'mem'}?n={n}" for n in range(60)]
    with _pipelined(server, paths) as sock:
        answers = _bodies(sock, len(paths))
    assert [a.split()[0] for a in answers] == [str(n) for n in range(60)]
    # The loop serves until a request goes to a worker; that worker goes on with the rest.
    assert [a.split()[1] for a in answers[:3]] == ["connection-loop"] * 3
    assert answers[3].split()[1].startswith("waitress-")


def test_a_client_that_does_not_read_cannot_stall_the_loop(server) -> None:  # noqa: ANN001
    # 200 answers of 128 KiB pile up for a client that reads none: past INLINE_OUTBUF_BYTES
    # they are left to workers, which may wait for it; the loop goes on serving others.
    count = 200
    assert count * BIG > 16 * 1024 * 1024 > INLINE_OUTBUF_BYTES  # beyond waitress's watermark
    with _pipelined(server, [f"/big?n={n}" for n in range(count)], rcvbuf=4096) as stalled:
        answer = requests.get(_url(server, "/mem?n=other"), timeout=5)
        assert answer.text == "other connection-loop\n"
        answers = _bodies(stalled, count)
    assert [a.split()[0] for a in answers] == [str(n) for n in range(count)]
    threads = {a.split()[1] for a in answers}
    assert "connection-loop" in threads and any(t.startswith("waitress-") for t in threads), threads
