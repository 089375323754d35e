"""A LAN peer holding connections open, trickling bytes, or sending huge bodies, against a real
`seedbed serve`: the process stays up and a legitimate machine is still answered.

Only loopback: the attackers bind source addresses in 127.0.0.0/8 so the per-address limit can
be met and passed the way many machines on a LAN would. Every loop is bounded in count and time.
"""

from __future__ import annotations

import contextlib
import resource
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from seedbed.httpserver import ServerLimits
from seedbed.limits import REQUEST_MAX_BYTES as MAX_BODY_BYTES
from support import ServeProcess, inventory_data, seed_token, write_inventory

MAC = "52:54:00:00:00:01"
IDLE_CONNECTIONS = 5000
IDLE_ADDRESSES = 100  # 50 connections each: under the per-address limit
SLOW_CLIENTS = 200
SLOW_ADDRESSES = 10
LEGIT_DEADLINE = 1.0  # seconds; a PXE client gives up soon after (iPXE, GRUB, the installer)
CUT_OFF_TIMEOUT = 2.0  # the time-outs the cut-off tests run the server with


@pytest.fixture(scope="module", autouse=True)
def descriptors() -> None:
    """This process holds every attacking connection: raise its own descriptor limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = IDLE_CONNECTIONS + SLOW_CLIENTS + 500
    if hard != resource.RLIM_INFINITY and hard < need:
        try:  # root (CI) may raise the hard limit too
            resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
            return
        except (ValueError, OSError):
            pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {need} descriptors this test holds")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard if hard != resource.RLIM_INFINITY else need, hard))


def serve(tmp_path: Path, *extra: str) -> ServeProcess:
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    return ServeProcess(inventory, tmp_path / "state", extra_args=list(extra))


def connect_from(source: str, port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(timeout)
    sock.bind((source, 0))
    sock.connect(("127.0.0.1", port))
    return sock


def open_many(port: int, count: int, addresses: int, network: str) -> list[socket.socket]:
    return [connect_from(f"{network}.{2 + i % addresses}", port) for i in range(count)]


def close_all(socks: list[socket.socket]) -> None:
    for sock in socks:
        sock.close()


class Trickle:
    """Slow-body clients: each sends a POST's headers, then one body byte per `every` seconds."""

    def __init__(self, socks: list[socket.socket], path: str, every: float = 0.5):
        self.socks, self.every = socks, every
        self.stop = threading.Event()
        head = f"POST {path} HTTP/1.1\r\nHost: seedbed\r\nContent-Type: application/json\r\n" \
               f"Content-Length: 100000\r\n\r\n"
        for sock in socks:
            sock.sendall(head.encode())
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            for sock in self.socks:
                with contextlib.suppress(OSError):  # cut off by the server: as it should
                    sock.send(b" ")

    def __enter__(self) -> Trickle:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)


def legit_machine(url: str) -> Iterator[tuple[str, float, int]]:
    """One machine's PXE boot: the chain, its script, its seed files; (what, seconds, status)."""
    session = requests.Session()

    def get(what: str, path: str, **params: str) -> requests.Response:
        started = time.monotonic()
        response = session.get(f"{url}{path}", params=params, timeout=10)
        timings.append((what, time.monotonic() - started, response.status_code))
        return response

    timings: list[tuple[str, float, int]] = []
    get("/boot.ipxe", "/boot.ipxe")
    token = seed_token(get("/ipxe", "/ipxe", mac=MAC).text)
    for name in ("meta-data", "user-data", "vendor-data"):
        get(f"/seed/{name}", f"/seed/{token}/{name}")
    yield from timings


def assert_answered_in_time(timings: list[tuple[str, float, int]], under: str) -> None:
    for what, took, status in timings:
        assert status == 200, f"{under}: {what} answered {status}"
        assert took < LEGIT_DEADLINE, (
            f"{under}: {what} took {took:.2f}s; a legitimate machine must be answered in "
            f"< {LEGIT_DEADLINE}s (functional requirement: PXE clients time out)")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for pid {pid}")


def open_descriptors(pid: int) -> int:
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def wait_accepted(pid: int, connections: int, within: float) -> int:
    """The server's open descriptors, once they exceed `connections` or `within` seconds pass."""
    deadline = time.monotonic() + within
    while (held := open_descriptors(pid)) <= connections and time.monotonic() < deadline:
        time.sleep(0.2)
    return held


def test_idle_and_slow_clients_do_not_stop_a_legitimate_machine(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        assert server.proc is not None
        try:
            idle = open_many(server.port, IDLE_CONNECTIONS, IDLE_ADDRESSES, "127.0.1")
            slow = open_many(server.port, SLOW_CLIENTS, SLOW_ADDRESSES, "127.0.2")
        except OSError as exc:
            pytest.fail(f"opening the attack connections: {exc}; seedbed serve exit code "
                        f"{server.proc.poll()}:\n{server.log()}")
        try:
            with Trickle(slow, "/api/v1/report/" + "A" * 43):
                held = wait_accepted(server.proc.pid, IDLE_CONNECTIONS + SLOW_CLIENTS, within=10)
                assert held > IDLE_CONNECTIONS + SLOW_CLIENTS, (
                    f"setup: the server holds {held} descriptors after 10 s: the attack "
                    f"connections were not all accepted")
                for _ in range(3):
                    assert_answered_in_time(list(legit_machine(server.url)),
                                            f"{IDLE_CONNECTIONS} idle + {SLOW_CLIENTS} slow clients")
        finally:
            close_all(idle + slow)
        assert server.proc.poll() is None, f"seedbed serve exited:\n{server.log()}"
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200


def test_one_address_gets_no_more_than_its_share(tmp_path: Path) -> None:
    per_ip = ServerLimits().connections_per_ip
    with serve(tmp_path) as server:
        flood = open_many(server.port, 4 * per_ip, 1, "127.0.3")
        try:
            time.sleep(1.0)
            still_open = 0
            for sock in flood:
                sock.setblocking(False)
                try:
                    still_open += sock.recv(1) != b""  # b"": closed by the server
                except BlockingIOError:
                    still_open += 1  # nothing to read: the server keeps it
                except ConnectionResetError:
                    pass
            assert still_open == per_ip, (
                f"{len(flood)} connections from one address: {still_open} kept open, "
                f"the limit is {per_ip}")
            assert_answered_in_time(list(legit_machine(server.url)), "one address over its limit")
        finally:
            close_all(flood)


def read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    data = b""
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return data


def test_oversized_body_is_refused_before_it_is_stored(tmp_path: Path) -> None:
    with serve(tmp_path) as server:
        assert server.proc is not None
        before = rss_kib(server.proc.pid)
        sock = connect_from("127.0.0.1", server.port)
        # Declares 1 GiB, sends none of it: the answer must come from the headers alone.
        sock.sendall(b"POST /api/v1/report/" + b"A" * 43 + b" HTTP/1.1\r\nHost: seedbed\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1073741824\r\n\r\n")
        answer = read_until_closed(sock, time.monotonic() + 5)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413"), f"declared 1 GiB body: {answer[:200]!r}"

        # Chunked: no length up front, so the server counts and stops at its limit.
        sock = connect_from("127.0.0.1", server.port)
        sock.sendall(b"POST /api/v1/report/" + b"A" * 43 + b" HTTP/1.1\r\nHost: seedbed\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        chunk = b"%x\r\n%s\r\n" % (64 * 1024, b"x" * 64 * 1024)
        sent = 0
        try:
            while sent < 16 * MAX_BODY_BYTES:  # bounded: 16 MiB at most
                sock.sendall(chunk)
                sent += 64 * 1024
        except OSError:
            pass  # the server answered and closed: it stopped reading
        sock.settimeout(2)
        answer = read_until_closed(sock, time.monotonic() + 5)
        sock.close()
        assert answer.startswith(b"HTTP/1.1 413"), f"chunked body past the limit: {answer[:200]!r}"
        grown = rss_kib(server.proc.pid) - before
        assert grown < 8 * 1024, f"the server grew by {grown} KiB while refusing oversized bodies"
        assert server.proc.poll() is None


def wait_closed(sock: socket.socket, trickle: bool, limit: float) -> float:
    """Seconds until the server closed `sock`, sending a byte every 0.2 s if `trickle`."""
    started = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - started < limit:
        try:
            if trickle:
                sock.send(b" ")
            if sock.recv(4096) == b"":
                return time.monotonic() - started
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - started
    raise AssertionError(f"the server kept a {'trickling' if trickle else 'silent'} client "
                         f"for more than {limit}s (time-outs {CUT_OFF_TIMEOUT}s)")


@pytest.mark.parametrize("trickle", [False, True], ids=["silent", "trickling-body"])
def test_slow_client_is_cut_off_after_the_timeout(tmp_path: Path, trickle: bool) -> None:
    timeout = str(CUT_OFF_TIMEOUT)
    with serve(tmp_path, "--idle-timeout", timeout, "--request-timeout", timeout) as server:
        sock = connect_from("127.0.0.1", server.port)
        if trickle:
            sock.sendall(b"POST /api/v1/report/" + b"A" * 43 + b" HTTP/1.1\r\nHost: seedbed\r\n"
                         b"Content-Length: 100000\r\n\r\n")
        took = wait_closed(sock, trickle, limit=4 * CUT_OFF_TIMEOUT)
        sock.close()
        assert took >= CUT_OFF_TIMEOUT * 0.9, f"cut off after {took:.1f}s, before the time-out"
        assert requests.get(f"{server.url}/healthz", timeout=5).status_code == 200
