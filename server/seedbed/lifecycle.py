"""The install lifecycle of each node, and what its per-install token may do.

    new ──boot──▶ installing ──installed──▶ installed ──ready──▶ ready | unhealthy
     ▲                │ └────failed────▶ failed
     └── reinstall ───┴── (armed, with a window) ◀── any state

A node is *armed* while new (for site.new_node_window_minutes after it entered
the inventory) or after `reinstall` (until its window closes), and stays armed
while installing so a machine that reboots mid-install starts over. Each boot
script served to an armed node begins a new install with a new token; the old
one stops working, and an event names the address that superseded it. With
site.pin_install_address, the token is honoured only from the address that
fetched that boot script or the node's own inventory address. Once `installed`,
`failed` or `ready` arrives the node is disarmed and PXE boots get the local disk.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from . import limits
from .errors import Forbidden, NotFound, RateLimited
from .inventory import Inventory, Node, Site
from .store import InstallRow, NodeRow, Store
from .tokens import looks_like_token, new_token, token_hash


class NodeState(str, Enum):
    NEW = "new"
    ARMED = "armed"
    INSTALLING = "installing"
    INSTALLED = "installed"
    READY = "ready"
    UNHEALTHY = "unhealthy"
    FAILED = "failed"


ARMED_STATES = {NodeState.NEW.value, NodeState.ARMED.value, NodeState.INSTALLING.value}
IN_PROGRESS = ("issued", "installing")
security_log = logging.getLogger("seedbed")


@functools.lru_cache(maxsize=4096)  # a few addresses, asked on every machine request
def plain_address(address: str | None) -> str | None:
    """An IPv4 client seen through a dual-stack socket (::ffff:a.b.c.d) as a.b.c.d."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address
    mapped = getattr(ip, "ipv4_mapped", None)
    return str(mapped or ip)


@dataclass(frozen=True)
class Origin:
    """Where a token request came from, and the node addresses it may come from."""

    address: str | None
    node_address: Callable[[str], str | None]  # hostname -> its inventory address

    def check(self, install: InstallRow) -> None:
        allowed = {install.boot_addr, self.node_address(install.hostname)} - {None}
        if plain_address(self.address) not in allowed:
            security_log.warning("install #%d: token used from %s, refused (booted from %s)",
                                 install.id, self.address, install.boot_addr)
            raise Forbidden(f"install #{install.id} takes requests only from the address that "
                         f"booted it or the node's own, not {self.address}")


@dataclass(frozen=True)
class ReadyReport:
    install: InstallRow
    problems: list[str]
    first: bool  # False for a repeated report of an install already ready


@dataclass(frozen=True)
class IssuedInstall:
    install_id: int
    token: str


def is_armed(row: NodeRow | None, now: float) -> bool:
    """Armed: in an armed state and before the end of its window (the end itself is out)."""
    if row is None or row.state not in ARMED_STATES or row.armed_until is None:
        return False
    return now < row.armed_until


def first_row(node: Node, site: Site, now: float) -> NodeRow:
    """The row a node gets when it enters the inventory at `now` (see Lifecycle.sync)."""
    if node.adopted:
        return NodeRow(node.hostname, NodeState.INSTALLED.value, now, None, None, None, [], None, None)
    return NodeRow(node.hostname, NodeState.NEW.value, now, now + site.new_node_window_minutes * 60,
                   None, None, [], None, None)


class Lifecycle:
    def __init__(self, store: Store, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    # -- inventory ------------------------------------------------------------

    def sync(self, inventory: Inventory) -> None:
        """Give every inventory node a row; adopted nodes start installed (never wiped)."""
        now = self.clock()
        with self.store.transaction() as db:
            for node in inventory.nodes:
                self.store.ensure_node(db, node.hostname, first_row(node, inventory.site, now).state,
                                       now)
            self.store.set_new_node_windows(db, inventory.site.new_node_window_minutes * 60)

    def is_armed(self, row: NodeRow | None) -> bool:
        return is_armed(row, self.clock())

    def row(self, node: Node, site: Site) -> NodeRow:
        """The node's row, or the one sync would give it (a preview of an unsynced store)."""
        return self.store.node(node.hostname, settle=False) or first_row(node, site, self.clock())

    # -- boot -------------------------------------------------------------------

    def begin_install(self, node: Node, mac: str, method: str, ttl_seconds: float,
                      address: str | None = None) -> IssuedInstall:
        """Issue a fresh token for this boot; any earlier install of the node is superseded."""
        token = new_token()
        now = self.clock()
        expires = now + ttl_seconds
        address = plain_address(address)

        def begin(db: sqlite3.Connection) -> int:
            install_id, superseded = self.store.add_install(
                db, node.hostname, mac, token_hash(token), address, method, now, expires)
            self.store.set_node(db, node.hostname, now, state=NodeState.INSTALLING.value,
                                install_id=install_id)
            for old in superseded:
                self.store.add_event(
                    db, now, "superseded", f"install #{old.id} ({old.state}, booted from "
                    f"{old.boot_addr}) superseded by a boot from {address} ({mac})",
                    hostname=node.hostname, mac=mac, install_id=old.id,
                    data={"address": address, "previous_address": old.boot_addr})
            self.store.add_event(db, now, "boot", f"install #{install_id} started ({method}) "
                                 f"from {address}", hostname=node.hostname, mac=mac,
                                 install_id=install_id, data={"address": address})
            return install_id

        return IssuedInstall(self.store.write(begin), token)

    def local_boot(self, node: Node, mac: str, reason: str) -> None:
        now = self.clock()
        self.store.record(lambda db: self.store.add_event(
            db, now, "boot", f"local disk: {reason}", hostname=node.hostname, mac=mac))

    def note(self, kind: str, message: str) -> None:
        """An event of the service itself (dnsmasq's supervisor), tied to no node."""
        with self.store.transaction() as db:
            self.store.add_event(db, self.clock(), kind, message)

    def discovered(self, mac: str, facts: dict[str, str | None]) -> None:
        now = self.clock()

        def record(db: sqlite3.Connection) -> None:
            if self.store.record_discovered(db, mac, now, facts):
                self.store.add_event(db, now, "discovered", f"unknown machine {mac} discovered",
                                     mac=mac, data=facts)

        self.store.record(record)

    # -- token checks ----------------------------------------------------------

    def _current(self, db: Any, token: str, origin: Origin | None) -> InstallRow:
        if not looks_like_token(token):
            raise NotFound("unknown token")
        found = self.store.install_by_token_hash(db, token_hash(token))
        if found is None:
            raise NotFound("unknown token")
        install, current = found
        if not current:
            raise Forbidden("token belongs to an install that is no longer current")
        if origin is not None:
            origin.check(install)
        return install

    def current_install(self, token: str, origin: Origin | None = None) -> InstallRow:
        """The install a token belongs to, if it is still the node's current one."""
        return self._current(self.store.read(), token, origin)

    def for_seed(self, token: str, late: bool = False, origin: Origin | None = None) -> InstallRow:
        """The install whose seed may be served now, or Forbidden/NotFound.

        `late`: a file the installer's late-commands fetch. Those run after the whole
        install and its update pass, often past the token's expiry, so an install that
        has started (fetched its seed) gets them until it finishes, as it may still post
        `installed`; an install that never started does not.
        """
        install = self.current_install(token, origin)
        seedable = IN_PROGRESS + (("installed",) if install.method == "image" else ())
        if install.state not in seedable:
            raise Forbidden(f"install #{install.id} is {install.state}: seeds are closed")
        if late and install.state == "installing":
            return install
        if self.clock() >= install.expires_at:
            raise Forbidden(f"install #{install.id} token expired")
        return install

    def seed_fetched(self, install: InstallRow, name: str) -> None:
        """An event; the first fetch also moves the install to installing (waited for: the
        files served late depend on it)."""
        now = self.clock()

        def record(db: sqlite3.Connection) -> None:
            if install.state == "issued":
                self.store.set_install(db, install.id, state="installing")
            self.store.add_event(db, now, "seed", f"seed {name} fetched",
                                 hostname=install.hostname, install_id=install.id)

        if install.state == "issued":
            self.store.write(record, durable=False)
        else:
            self.store.record(record)

    # -- machine callbacks -------------------------------------------------------

    def report(self, token: str, event: dict[str, Any], message: str,
               origin: Origin | None = None) -> InstallRow:
        """A curtin webhook event; accepted while the install runs, even past the seed expiry."""
        now = self.clock()

        def add(db: sqlite3.Connection) -> InstallRow:
            install = self._current(db, token, origin)
            if install.state not in IN_PROGRESS + ("installed",):
                raise Forbidden(f"install #{install.id} is {install.state}")
            recent = self.store.install_events_since(db, install.id, "install", now - 60)
            if recent >= limits.REPORTS_PER_MINUTE:
                raise RateLimited(f"install #{install.id} sent {recent} reports in the last "
                             f"minute: at most {limits.REPORTS_PER_MINUTE}")
            self.store.add_event(db, now, "install", message, hostname=install.hostname,
                                 install_id=install.id, data=event)
            return install

        return self.store.write(add)

    def installed(self, token: str, origin: Origin | None = None) -> InstallRow:
        return self._finish_install(token, "installed", NodeState.INSTALLED, None, origin)

    def failed(self, token: str, log: str, origin: Origin | None = None) -> InstallRow:
        return self._finish_install(token, "failed", NodeState.FAILED,
                                    log[-limits.FAILURE_LOG_CHARS:], origin)

    def _finish_install(self, token: str, outcome: str, state: NodeState,
                        log: str | None, origin: Origin | None) -> InstallRow:
        now = self.clock()

        def finish(db: sqlite3.Connection) -> InstallRow:
            install = self._current(db, token, origin)
            if install.state == outcome:
                return install  # a retried callback: already recorded
            if install.state not in IN_PROGRESS:
                raise Forbidden(f"install #{install.id} is already {install.state}")
            self.store.set_install(db, install.id, state=outcome, finished_at=now, log=log)
            self.store.set_node(db, install.hostname, now, state=state.value, armed_until=None)
            took = now - install.created_at
            self.store.add_event(db, now, outcome, f"install #{install.id} {outcome} after {took:.0f}s",
                                 hostname=install.hostname, install_id=install.id,
                                 data={"log": log} if log else None)
            return install

        return self.store.write(finish)

    def ready(self, token: str, facts: dict[str, Any], problems: list[str],
              origin: Origin | None = None) -> ReadyReport:
        """First boot finished: healthy nodes become ready, others unhealthy with reasons.

        A repeated report of the same install (a retried curl) changes nothing and gets
        the outcome recorded the first time, like a repeated `installed`.
        """
        now = self.clock()
        state = NodeState.UNHEALTHY if problems else NodeState.READY

        def report_ready(db: sqlite3.Connection) -> ReadyReport:
            install = self._current(db, token, origin)
            if install.state == "ready":
                row = self.store.node(install.hostname, db)
                return ReadyReport(install, row.health if row else [], first=False)
            if install.state not in ("installing", "installed"):
                raise Forbidden(f"install #{install.id} is {install.state}")
            self.store.set_install(db, install.id, state="ready",
                                   finished_at=install.finished_at or now)
            self.store.set_node(db, install.hostname, now, state=state.value, armed_until=None,
                                facts=facts, health=problems)
            message = "ready" if not problems else "unhealthy: " + "; ".join(problems)
            self.store.add_event(db, now, state.value, message, hostname=install.hostname,
                                 install_id=install.id, data={"facts": facts})
            return ReadyReport(install, problems, first=True)

        return self.store.write(report_ready)

    # -- admin -----------------------------------------------------------------

    def rearm(self, hostname: str, window_seconds: float, who: str) -> NodeRow:
        now = self.clock()
        with self.store.transaction() as db:
            if self.store.node(hostname, db) is None:
                raise NotFound(f"no node {hostname!r} in the inventory")
            self.store.set_node(db, hostname, now, state=NodeState.ARMED.value,
                                armed_until=now + window_seconds)
            self.store.add_event(db, now, "admin",
                                 f"armed for reinstall for {window_seconds / 3600:.1f}h by {who}",
                                 hostname=hostname)
        row = self.store.node(hostname)
        assert row is not None
        return row

    def accept_discovered(self, mac: str, hostname: str, who: str) -> None:
        now = self.clock()
        with self.store.transaction() as db:
            self.store.mark_accepted(db, mac, hostname)
            self.store.add_event(db, now, "admin", f"discovered {mac} accepted as {hostname} by {who}",
                                 hostname=hostname, mac=mac)
