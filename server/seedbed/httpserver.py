"""The HTTP server of `seedbed serve`: waitress, with every limit a LAN peer could push on named.

Why waitress: it reads each request asynchronously (one event loop, non-blocking
sockets) and hands only a complete request to a worker thread, so an idle or
slow client costs one descriptor and a few buffers, never a thread. Servers that
give each connection a thread while it reads (gunicorn's sync and gthread
workers, werkzeug) are pinned by as many slow clients as they have threads.
waitress's default select() loop cannot watch descriptors above 1024 (FD_SETSIZE):
about 990 idle connections ended the process. `LimitedServer` runs waitress's
dispatchers on an epoll loop instead (seedbed.eventloop: no such bound, and an idle
connection costs nothing per pass), the descriptor limit is raised to its hard maximum
at start, and the connection limit stays below it.

waitress has neither a per-address bound nor a deadline for a request that
trickles in (its channel_timeout only closes connections with no bytes for a
while): `LimitedServer` adds both. It also answers the few requests the
application serves from memory alone in the loop thread, where handing them to a
worker and back cost more than the request.
"""

from __future__ import annotations

import argparse
import gc
import logging
import logging.handlers
import queue
import resource
import signal
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from . import cpu_placement
from .eventloop import ConnectionLoop
from .limits import REQUEST_MAX_BYTES

log = logging.getLogger("seedbed.server")

ACCEPT_BATCH = 256  # connections accepted per readiness event of the listening socket
# A request answered in the loop thread only while less than this waits to be sent to its
# client: writing more would block the loop on a reader that does not read.
INLINE_OUTBUF_BYTES = 64 * 1024
QUEUE_REPORT_SECONDS = 60.0  # at most one line this often about requests waiting for a thread


def _limit(default: float, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class ServerLimits:
    """Every limit of the HTTP server; each field is a `seedbed serve --<field>` flag."""

    # Few threads: they only run complete requests (slow clients cost none), and with the GIL
    # and one SQLite writer, 16 threads made writing requests take twice the CPU of 4.
    threads: int = _limit(4, "worker threads running the application")
    console_streams: int = _limit(8, "console live streams (Server-Sent Events) open at once; each "
                                  "holds a worker thread, so serve adds this many to --threads")
    connection_limit: int = _limit(10_000, "open connections in all; new ones wait in the backlog above it")
    connections_per_ip: int = _limit(64, "open connections from one address; more are closed at once")
    idle_timeout: float = _limit(30.0, "seconds a connection may sit with no request and no bytes")
    request_timeout: float = _limit(30.0, "seconds from a request's first byte to its last (headers, body)")
    max_body_bytes: int = _limit(REQUEST_MAX_BYTES, "larger bodies get 413 before any of it is stored")
    max_header_bytes: int = _limit(64 * 1024, "request line and headers")
    body_memory_bytes: int = _limit(256 * 1024, "a body larger than this is buffered in a temp file")
    backlog: int = _limit(1024, "connections the kernel queues before accept()")
    descriptor_reserve: int = _limit(256, "descriptors kept for SQLite, artifacts, logs, dnsmasq")

    def waitress_adjustments(self, host: str, port: int) -> dict[str, Any]:
        return {
            "host": host, "port": port, "ident": "seedbed", "threads": self.threads + self.console_streams,
            "connection_limit": self.connection_limit,
            "channel_timeout": self.idle_timeout,
            # The maintenance pass that enforces both time-outs runs this often.
            "cleanup_interval": max(0.5, min(self.idle_timeout, self.request_timeout) / 4),
            # waitress refuses bodies >= its limit; the application's limit is inclusive.
            "max_request_body_size": self.max_body_bytes + 1,
            "max_request_header_size": self.max_header_bytes,
            "inbuf_overflow": self.body_memory_bytes,
            "backlog": self.backlog,
            # Keep reading a connection while its request runs, so a browser that closed a
            # console stream is noticed (environ["waitress.client_disconnected"]) within a poll.
            "channel_request_lookahead": 1,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per limit, its default shown in --help."""
    group = parser.add_argument_group("connection limits (see seedbed.httpserver.ServerLimits)")
    for limit in fields(ServerLimits):
        group.add_argument(f"--{limit.name.replace('_', '-')}", dest=f"limit_{limit.name}",
                           type=type(limit.default), default=limit.default, metavar="N",
                           help=f"{limit.metadata['help']} (default: {limit.default})")


def limits_from_args(args: argparse.Namespace) -> ServerLimits:
    return ServerLimits(**{f.name: getattr(args, f"limit_{f.name}") for f in fields(ServerLimits)})


def raise_descriptor_limit(limits: ServerLimits) -> ServerLimits:
    """Raise RLIMIT_NOFILE's soft limit to the hard one; keep the connection limit below it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError) as exc:
            log.warning("could not raise the descriptor limit from %d to %d: %s", soft, target, exc)
    usable = soft - limits.descriptor_reserve
    if limits.connection_limit <= usable:
        return limits
    if usable < 64:
        raise SystemExit(f"seedbed serve: the descriptor limit ({soft}) leaves no room for "
                         f"connections; raise it (ulimit -n, systemd LimitNOFILE=)")
    log.warning("connection limit lowered from %d to %d: the descriptor limit is %d",
                limits.connection_limit, usable, soft)
    return replace(limits, connection_limit=usable)


class QueueDepth:
    """Stands in for waitress's queue logger, which wrote "Task queue depth is N" for every
    request queued behind busy threads: a line per request under load (its own cost showed
    in bench/wrk_bench.py) and a flood's worth under a flood. Counted here, and reported in
    one line per QUEUE_REPORT_SECONDS by the server's maintenance pass."""

    def __init__(self) -> None:
        self.waited = 0
        self.deepest = 0
        self.reported_at = time.time()  # waitress's maintenance clock

    def warning(self, _message: str, depth: int) -> None:  # waitress's call
        self.waited += 1
        self.deepest = max(self.deepest, depth)

    def report(self, now: float) -> None:
        if not self.waited or now - self.reported_at < QUEUE_REPORT_SECONDS:
            return
        log.warning("%d requests waited for a worker thread in the last %.0f s (at most %d "
                    "waiting); if this persists with requests slow, raise --threads",
                    self.waited, now - self.reported_at, self.deepest)
        self.waited, self.deepest, self.reported_at = 0, 0, now


class LimitedChannel(HTTPChannel):
    """A connection that remembers when its unfinished request began, and frees its address's slot."""

    request_started = 0.0
    serve_here = False  # run the next request in the loop thread (LimitedServer.add_task)

    def handle_read(self) -> None:
        if self.request is None:  # the bytes read now begin a new request
            self.request_started = time.time()
        super().handle_read()

    def received(self, data: bytes) -> bool:
        taken = super().received(data)
        # The loop thread serves what LimitedServer.add_task kept for it, once received()
        # has let go of requests_lock (service() takes it); one request may queue the next.
        while self.serve_here:
            self.serve_here = False
            self.service()
        return taken

    def answered_from_memory(self, paths: frozenset[str]) -> bool:
        """The request to run next reads only memory, and little output waits to be sent."""
        request = self.requests[0]
        return (not request.error and request.command in ("GET", "HEAD")
                and request.path in paths and self.total_outbufs_len < INLINE_OUTBUF_BYTES)

    def del_channel(self, map: Any = None) -> None:  # noqa: A002 - waitress's signature
        counted = self._fileno is not None
        if counted:
            self.server.loop.removed(self._fileno)
        super().del_channel(map)
        if counted:
            self.server.connection_closed(self.addr)


class LimitedServer(TcpWSGIServer):
    channel_class = LimitedChannel

    def __init__(self, *args: Any, limits: ServerLimits, loop: ConnectionLoop | None = None,
                 memory_paths: frozenset[str] = frozenset(), **kw: Any):
        self.limits = limits
        self.memory_paths = memory_paths
        self.loop_thread: int | None = None  # the thread running the connection loop (serve())
        self._per_ip: Counter[str] = Counter()
        self._per_ip_lock = threading.Lock()
        self._refused_since_log = 0
        super().__init__(*args, **kw)
        self.loop = loop or ConnectionLoop(self._map)

    def run(self) -> None:
        """waitress's run(), on the epoll loop (seedbed.eventloop)."""
        try:
            self.loop.run(self.adj.asyncore_loop_timeout)
        except (SystemExit, KeyboardInterrupt):
            self.task_dispatcher.shutdown()

    def add_task(self, channel: Any) -> None:
        """A request read in full: to a worker thread, or, when it is answered from memory
        (`memory_paths`: no lock, no store, no file), run by the loop thread itself. Handing
        such a request to a thread and its answer back to the loop cost more than the request
        (py-spy: the Flask app was 3% of /boot.ipxe's samples)."""
        if threading.get_ident() == self.loop_thread and \
                channel.answered_from_memory(self.memory_paths):
            channel.serve_here = True
        else:
            super().add_task(channel)

    def pull_trigger(self) -> None:
        if threading.get_ident() != self.loop_thread:  # the loop itself is awake
            super().pull_trigger()

    def handle_accept(self) -> None:
        # Accept what is queued, not one per loop pass: a flood must not starve the backlog.
        for _ in range(ACCEPT_BATCH):
            try:
                accepted = self.accept()
            except OSError:
                return
            if accepted is None:
                return
            self._admit(*accepted)

    def _admit(self, conn: socket.socket, addr: Any) -> None:
        ip = addr[0]
        with self._per_ip_lock:
            refused = self._per_ip[ip] >= self.limits.connections_per_ip
            if not refused:
                self._per_ip[ip] += 1
        if refused:
            conn.close()
            self._note_refused(ip)
            return
        try:
            self.set_socket_options(conn)
        except OSError:
            conn.close()
            self.connection_closed(addr)
            return
        channel = self.channel_class(self, conn, self.fix_addr(addr), self.adj, map=self._map)
        if channel._fileno is not None:
            self.loop.added(channel._fileno)

    def connection_closed(self, addr: Any) -> None:
        ip = addr[0] if isinstance(addr, tuple) else addr
        with self._per_ip_lock:
            self._per_ip[ip] -= 1
            if self._per_ip[ip] <= 0:
                del self._per_ip[ip]

    def _note_refused(self, ip: str) -> None:
        # One line per 1000 refusals: a flood must not also flood the log.
        if self._refused_since_log % 1000 == 0:
            log.warning("refused a connection from %s: %d open from that address (limit %d)",
                        ip, self._per_ip[ip], self.limits.connections_per_ip)
        self._refused_since_log += 1

    def maintenance(self, now: float) -> None:
        """waitress closes idle connections; also close those whose request trickles in too long."""
        super().maintenance(now)
        queue = self.task_dispatcher.queue_logger
        if isinstance(queue, QueueDepth):
            queue.report(now)
        cutoff = now - self.limits.request_timeout
        for channel in list(self.active_channels.values()):
            if channel.request is not None and channel.request_started < cutoff:
                channel.will_close = True


def build_server(app: Any, host: str, port: int, limits: ServerLimits,
                 peer: LimitedServer | None = None,
                 memory_paths: frozenset[str] = frozenset()) -> LimitedServer:
    """A listening server; with `peer`, one more port served by the peer's loop and threads."""
    adj = Adjustments(**limits.waitress_adjustments(host, port))
    if peer is not None:
        return LimitedServer(app, peer._map, dispatcher=peer.task_dispatcher, adj=adj,
                             sockinfo=adj.listen[0], limits=limits, loop=peer.loop,
                             memory_paths=memory_paths)
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.queue_logger = QueueDepth()  # type: ignore[assignment]
    dispatcher.set_thread_count(adj.threads)
    return LimitedServer(app, {}, dispatcher=dispatcher, adj=adj, sockinfo=adj.listen[0],
                         limits=limits, memory_paths=memory_paths)


def serve(app: Any, host: str, ports: Sequence[int], limits: ServerLimits,
          memory_paths: frozenset[str] = frozenset(), cpu: int | None = None,
          pinned_with: Sequence[int | None] = ()) -> None:
    """Serve on every port (the first, and e.g. 80 for GRUB) from one connection loop; requests
    for `memory_paths` (GET, answered from memory alone) are run by the loop itself. With
    `cpu`, this thread, the threads it starts and `pinned_with` run on that CPU alone
    (seedbed.cpu_placement)."""
    if cpu is not None and cpu_placement.pin(cpu, [threading.get_native_id(), *pinned_with]):
        log.info("the request threads run on CPU %d", cpu)
    limits = raise_descriptor_limit(limits)
    server = build_server(app, host, ports[0], limits, memory_paths=memory_paths)
    servers = [server] + [build_server(app, host, port, limits, peer=server,
                                       memory_paths=memory_paths) for port in ports[1:]]
    for each in servers:  # this thread runs their loop
        each.loop_thread = threading.get_ident()
    listener = log_in_background()
    # SIGTERM (systemd, docker stop) ends the loop like Ctrl-C, so the log is written out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log.info("serving on %s with %s", ", ".join(f"http://{host}:{p}" for p in ports), limits)
    # What was built to serve (modules, the app, the inventory) lives as long as the process:
    # out of the collector's sight, a full collection walks only what requests made since.
    gc.freeze()
    try:
        server.run()
    finally:
        server.close()
        listener.stop()  # writes what is still queued


def log_in_background() -> LogWriter:
    """Hand log records to one thread that writes them: every request logs a line, and
    request threads waiting on the handler's lock and the write were a tenth of the time
    of the cheapest requests."""
    root = logging.getLogger()
    records: queue.SimpleQueue[logging.LogRecord | None] = queue.SimpleQueue()
    writer = LogWriter(records, root.handlers)
    root.handlers = [_Enqueue(records)]
    writer.start()
    return writer


class LogWriter:
    """The thread that writes queued records: what queued up while it wrote goes out in one
    write and flush per stream (under load, one per request was a write syscall each)."""

    BATCH = 512  # records per write at most
    # After the first record, wait this long for more: a request thread's put then wakes no
    # one (with a writer woken per record, the access log was 40% of /boot.ipxe's time).
    GATHER_SECONDS = 0.02

    def __init__(self, records: queue.SimpleQueue[logging.LogRecord | None],
                 handlers: Sequence[logging.Handler]):
        self.records, self.handlers = records, list(handlers)
        self._thread = threading.Thread(target=self._run, name="log-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Write what is still queued, then end the thread."""
        self.records.put(None)
        self._thread.join()

    def _run(self) -> None:
        while True:
            batch = [self.records.get()]
            time.sleep(self.GATHER_SECONDS)
            while len(batch) < self.BATCH:
                try:
                    batch.append(self.records.get_nowait())
                except queue.Empty:
                    break
            found = [r for r in batch if r is not None]
            for handler in self.handlers:
                _write(handler, [r for r in found if r.levelno >= handler.level])
            if len(found) < len(batch):
                return


def _write(handler: logging.Handler, records: list[logging.LogRecord]) -> None:
    if type(handler) is not logging.StreamHandler:  # files, syslog...: their own emit
        for record in records:
            handler.handle(record)
        return
    lines = [r for r in records if handler.filter(r)]
    try:
        text = "".join(handler.format(r) + handler.terminator for r in lines)
        if text:
            with handler.lock:
                handler.stream.write(text)
                handler.stream.flush()
    except Exception:  # as StreamHandler.emit: reported on stderr, the writer goes on
        handler.handleError(lines[0])


class _Enqueue(logging.handlers.QueueHandler):
    """Queue the record itself: the message is built here, the line is formatted by the
    writing thread (QueueHandler's default formats and copies each record first)."""

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        record.msg, record.args = record.getMessage(), None
        return record
