"""The install lifecycle of each node, and what its per-install token may do.

    new ──boot──▶ installing ──installed──▶ installed ──ready──▶ ready | unhealthy
     ▲                │ └────failed────▶ failed
     └── reinstall ───┴── (armed, with a window) ◀── any state

A node is *armed* while new (no expiry) or after `reinstall` (until its window
closes), and stays armed while installing so a machine that reboots mid-install
starts over. Each boot script served to an armed node begins a new install with
a new token; the old one stops working. Once `installed`, `failed` or `ready`
arrives the node is disarmed and PXE boots get the local disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .inventory import Inventory, Node
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
LOG_LIMIT = 64 * 1024


class Denied(Exception):
    """A token request that must change nothing: `status` is 403 or 404."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class IssuedInstall:
    install_id: int
    token: str
    expires_at: float


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
                state = NodeState.INSTALLED if node.adopted else NodeState.NEW
                self.store.ensure_node(db, node.hostname, state.value, now)

    def is_armed(self, row: NodeRow | None) -> bool:
        if row is None or row.state not in ARMED_STATES:
            return False
        return row.armed_until is None or self.clock() < row.armed_until

    # -- boot -------------------------------------------------------------------

    def begin_install(self, node: Node, mac: str, method: str, ttl_seconds: float) -> IssuedInstall:
        """Issue a fresh token for this boot; any earlier install of the node is superseded."""
        token = new_token()
        now = self.clock()
        expires = now + ttl_seconds
        with self.store.transaction() as db:
            install_id = self.store.add_install(db, node.hostname, mac, token_hash(token), method,
                                               now, expires)
            self.store.set_node(db, node.hostname, now, state=NodeState.INSTALLING.value,
                                install_id=install_id)
            self.store.add_event(db, now, "boot", f"install #{install_id} started ({method})",
                                 hostname=node.hostname, mac=mac, install_id=install_id)
        return IssuedInstall(install_id, token, expires)

    def local_boot(self, node: Node, mac: str, reason: str) -> None:
        now = self.clock()
        with self.store.transaction(durable=False) as db:
            self.store.add_event(db, now, "boot", f"local disk: {reason}", hostname=node.hostname,
                                 mac=mac)

    def discovered(self, mac: str, facts: dict[str, str | None]) -> None:
        now = self.clock()
        with self.store.transaction(durable=False) as db:
            if self.store.record_discovered(db, mac, now, facts):
                self.store.add_event(db, now, "discovered", f"unknown machine {mac} discovered",
                                     mac=mac, data=facts)

    # -- token checks ----------------------------------------------------------

    def _current(self, db: Any, token: str) -> InstallRow:
        if not looks_like_token(token):
            raise Denied(404, "unknown token")
        install = self.store.install_by_token_hash(db, token_hash(token))
        if install is None:
            raise Denied(404, "unknown token")
        node = self.store.node(install.hostname, db)
        if node is None or node.install_id != install.id:
            raise Denied(403, "token belongs to an install that is no longer current")
        return install

    def current_install(self, token: str) -> InstallRow:
        """The install a token belongs to, if it is still the node's current one."""
        return self._current(self.store.read(), token)

    def for_seed(self, token: str) -> InstallRow:
        """The install whose seed may be served now, or Denied."""
        install = self.current_install(token)
        seedable = IN_PROGRESS + (("installed",) if install.method == "image" else ())
        if install.state not in seedable:
            raise Denied(403, f"install #{install.id} is {install.state}: seeds are closed")
        if self.clock() >= install.expires_at:
            raise Denied(403, f"install #{install.id} token expired")
        return install

    def seed_fetched(self, install: InstallRow, name: str) -> None:
        now = self.clock()
        with self.store.transaction(durable=False) as db:
            if install.state == "issued":
                self.store.set_install(db, install.id, state="installing")
            self.store.add_event(db, now, "seed", f"seed {name} fetched",
                                 hostname=install.hostname, install_id=install.id)

    # -- machine callbacks -------------------------------------------------------

    def report(self, token: str, event: dict[str, Any], message: str) -> InstallRow:
        """A curtin webhook event; accepted while the install runs, even past the seed expiry."""
        now = self.clock()
        with self.store.transaction() as db:
            install = self._current(db, token)
            if install.state not in IN_PROGRESS + ("installed",):
                raise Denied(403, f"install #{install.id} is {install.state}")
            self.store.add_event(db, now, "install", message, hostname=install.hostname,
                                 install_id=install.id, data=event)
        return install

    def installed(self, token: str) -> InstallRow:
        return self._finish_install(token, "installed", NodeState.INSTALLED, None)

    def failed(self, token: str, log: str) -> InstallRow:
        return self._finish_install(token, "failed", NodeState.FAILED, log[-LOG_LIMIT:])

    def _finish_install(self, token: str, outcome: str, state: NodeState,
                        log: str | None) -> InstallRow:
        now = self.clock()
        with self.store.transaction() as db:
            install = self._current(db, token)
            if install.state == outcome:
                return install  # a retried callback: already recorded
            if install.state not in IN_PROGRESS:
                raise Denied(403, f"install #{install.id} is already {install.state}")
            self.store.set_install(db, install.id, state=outcome, finished_at=now, log=log)
            self.store.set_node(db, install.hostname, now, state=state.value, armed_until=None)
            took = now - install.created_at
            self.store.add_event(db, now, outcome, f"install #{install.id} {outcome} after {took:.0f}s",
                                 hostname=install.hostname, install_id=install.id,
                                 data={"log": log} if log else None)
        return install

    def ready(self, token: str, facts: dict[str, Any], problems: list[str]) -> InstallRow:
        """First boot finished: healthy nodes become ready, others unhealthy with reasons."""
        now = self.clock()
        state = NodeState.UNHEALTHY if problems else NodeState.READY
        with self.store.transaction() as db:
            install = self._current(db, token)
            if install.state not in ("installing", "installed"):
                raise Denied(403, f"install #{install.id} is {install.state}")
            self.store.set_install(db, install.id, state="ready",
                                   finished_at=install.finished_at or now)
            self.store.set_node(db, install.hostname, now, state=state.value, armed_until=None,
                                facts=facts, health=problems)
            message = "ready" if not problems else "unhealthy: " + "; ".join(problems)
            self.store.add_event(db, now, state.value, message, hostname=install.hostname,
                                 install_id=install.id, data={"facts": facts})
        return install

    # -- admin -----------------------------------------------------------------

    def rearm(self, hostname: str, window_seconds: float, who: str) -> NodeRow:
        now = self.clock()
        with self.store.transaction() as db:
            if self.store.node(hostname, db) is None:
                raise KeyError(hostname)
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
