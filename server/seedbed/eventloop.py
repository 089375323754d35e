"""waitress's connection loop on epoll, asking only the connections whose answer may have changed.

waitress's poll() loop asks every connection whether it is readable and writable on every
pass and builds a new poll set from the answers, and a connection whose worker is writing
its answer wakes it on every pass (see _loop_sends): with fifty machines at once the loop
made about eight passes per request, a third of the server's CPU (bench/http_bench.py
--ramp 0: 1.8 ms of CPU per request before, 1.2 ms after), and each pass grows with every
idle connection a LAN peer holds open. Here the epoll set persists and a connection is
asked again only when its answer may have changed:

- after an event on it (its handlers ran in this thread);
- on every pass while it is *unsettled*: not simply waiting to read (a worker thread holds
  a request of it, or output or a close waits). Only such a connection is changed by
  another thread, and that thread pulls waitress's trigger afterwards, which wakes this loop;
- the listening sockets on every pass (their readable() runs waitress's maintenance and
  the connection limit);
- every connection once a second (RESCAN_SECONDS), for what the loop thread changes on idle
  ones outside their events (maintenance closing them): a close then waits up to a second.

A connection that is only waiting to read is changed by nothing but its own bytes.
"""

from __future__ import annotations

import contextlib
import select
import time
from typing import Any

from waitress import wasyncore

RESCAN_SECONDS = 1.0
# poll()'s flags, as waitress's poll loop registers them; epoll's bits are the same on Linux.
READ = select.EPOLLIN | select.EPOLLPRI
WRITE = select.EPOLLOUT


class ConnectionLoop:
    """The loop over one waitress socket map (shared by every port `seedbed serve` listens on)."""

    def __init__(self, socket_map: dict[int, Any]):
        self.map = socket_map
        self.epoll = select.epoll()
        self.events: dict[int, int] = {}  # fd → the events it is registered for
        self.ask: set[int] = set()  # fds to ask on the next pass
        self.unsettled: set[int] = set()  # fds asked on every pass (module doc)
        self.listeners: set[int] = set()
        self.next_rescan = 0.0  # the first pass asks every fd

    def run(self, timeout: float) -> None:
        """Serve until the map is empty (waitress's loop(map=..., use_poll=True))."""
        try:
            while self.map:
                self.run_once(timeout)
        finally:
            self.epoll.close()

    def run_once(self, timeout: float) -> None:
        now = time.monotonic()
        if now >= self.next_rescan:
            self.next_rescan = now + RESCAN_SECONDS
            asked: set[int] = set(self.map)
        else:
            asked = self.ask | self.unsettled | self.listeners
        self.ask = set()
        for fd in asked:
            channel = self.map.get(fd)
            if channel is None:
                self.removed(fd)
            else:
                self._ask(fd, channel)
        try:
            ready = self.epoll.poll(timeout)
        except InterruptedError:
            return
        for fd, flags in ready:
            channel = self.map.get(fd)
            if channel is not None:
                wasyncore.readwrite(channel, flags)
                self.ask.add(fd)

    def added(self, fd: int) -> None:
        """A connection joined the map (LimitedServer accepted it): ask it on the next pass."""
        self.ask.add(fd)

    def removed(self, fd: int) -> None:
        """A connection leaves the map (before its socket closes; its number may come back)."""
        self.ask.discard(fd)
        self.unsettled.discard(fd)
        self._unregister(fd)

    def _ask(self, fd: int, channel: Any) -> None:  # noqa: ANN401 - a waitress dispatcher
        wanted = READ if channel.readable() else 0
        if channel.accepting:  # a listening socket is never writable
            self.listeners.add(fd)
        elif channel.writable() and _loop_sends(channel):
            wanted |= WRITE
        # Settled: only waiting to read, no request with a worker (waitress reads ahead one
        # request while a worker serves the last, so readable alone does not say it).
        if channel.accepting or (wanted == READ and not getattr(channel, "requests", None)):
            self.unsettled.discard(fd)
        else:
            self.unsettled.add(fd)
        try:
            self._register(fd, wanted)
        except OSError:  # a descriptor closed under the map: poll() would say POLLNVAL
            self.removed(fd)
            wasyncore.readwrite(channel, select.POLLNVAL)

    def _register(self, fd: int, wanted: int) -> None:
        had = self.events.get(fd)
        if had == wanted:
            return
        if not wanted:
            # Not registered at all, as in waitress's loop: a hung-up connection waiting on a
            # worker would otherwise report EPOLLHUP on every pass (it stays unsettled: _ask).
            self._unregister(fd)
            return
        try:
            if had is None:
                self.epoll.register(fd, wanted)
            else:
                self.epoll.modify(fd, wanted)
        except FileExistsError:  # the number was reused before removed() heard of it
            self.epoll.modify(fd, wanted)
        except FileNotFoundError:  # closed and reused: the kernel dropped the old one
            self.epoll.register(fd, wanted)
        self.events[fd] = wanted

    def _unregister(self, fd: int) -> None:
        if self.events.pop(fd, None) is not None:
            with contextlib.suppress(OSError):  # already closed: the kernel dropped it
                self.epoll.unregister(fd)


def _loop_sends(channel: Any) -> bool:  # noqa: ANN401 - a waitress dispatcher
    """Whether output waiting on a connection is the loop's to send. While a worker serves a
    request it sends as it writes (waitress's send_bytes is 1) and pulls the trigger when it
    is done, so the loop takes over then; before that only a worker waiting on the loop
    (past the output high watermark) or a connection to be closed needs it. Asking for
    EPOLLOUT meanwhile woke the loop on every pass to find the worker holding the buffer:
    ten wake-ups per request in the burst (waitress's own poll loop spins the same way)."""
    return (not getattr(channel, "requests", None) or channel.will_close
            or channel.total_outbufs_len > channel.adj.outbuf_high_watermark)
