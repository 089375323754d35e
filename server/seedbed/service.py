"""The running service's parts, wired once: settings, the inventory, the store, the lifecycle.

Constructing a Seedbed reads the inventory and opens the store, nothing more; `start()`
and `stop()` own every long-running part (the cluster job runner, the dnsmasq supervisor,
the inventory watcher). The inventory changes only through `refresh()` (the watcher's
call) or an edit this process made (`accept_discovered`), never as a side effect of
reading it. `read_only=True` opens what the state folder holds without writing to it
(the previews and listings of the CLI).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .boot import install_method
from .cluster import ClusterManager, ClusterOptions
from .errors import SeedbedError
from .inventory import Inventory, InventoryError, Node, load_inventory
from .inventory_edit import add_node
from .lan.signedboot import SignedChainKeeper, SignedChainTree
from .lan.supervisor import DnsmasqSupervisor
from .lifecycle import Lifecycle
from .power import PowerControl, PowerOptions, PowerUnavailable
from .seed_texts import RenderArgs, SeedTexts
from .store import Store

log = logging.getLogger("seedbed")


@dataclass(frozen=True)
class Settings:
    inventory_path: Path
    state_dir: Path
    files_dir: Path | None = None  # kernels, initrds, images; default STATE/files
    reload_seconds: float = 2.0  # how often the watcher looks at the inventory file
    cluster: ClusterOptions = ClusterOptions()  # retries, back-off, time-outs of cluster jobs
    power: PowerOptions = PowerOptions()  # retries, back-off and status polling of power jobs
    dnsmasq: bool = False  # run and follow dnsmasq (DHCP, TFTP, DNS per the inventory)

    @property
    def artifacts(self) -> Path:
        return self.files_dir or self.state_dir / "files"

    @property
    def database(self) -> Path:
        return self.state_dir / "seedbed.sqlite3"


class StateFolderError(SeedbedError):
    """The state folder cannot be used (it is a file, or cannot be created)."""


class Seedbed:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time, *,
                 read_only: bool = False):
        self.settings = settings
        self.read_only = read_only
        # A bad inventory must fail before any state is created or changed.
        self.inventory: Inventory = load_inventory(settings.inventory_path).inventory
        self._stamp = _file_stamp(settings.inventory_path)
        _check_state_folder(settings.state_dir)
        self.store = Store.reader(settings.database) if read_only else Store(_state_folder(settings))
        self.lifecycle = Lifecycle(self.store, clock)
        self.seed_texts = SeedTexts()
        self.cluster = ClusterManager(self.store, lambda: self.inventory, settings.state_dir,
                                      settings.cluster)
        self.power = PowerControl(self.store, lambda: self.inventory, settings.state_dir,
                                  settings.power, clock)
        self.signed_chain = SignedChainKeeper(SignedChainTree(settings.artifacts, self.lifecycle),
                                              lambda: self.inventory)
        self.dnsmasq = (DnsmasqSupervisor(settings.state_dir / "dnsmasq", record=self.lifecycle.note)
                        if settings.dnsmasq else None)
        self._lock = threading.Lock()  # one inventory taken at a time (refresh, edits)
        self._watcher: _Watcher | None = None
        if not read_only:
            self.lifecycle.sync(self.inventory)

    # -- long-running parts ------------------------------------------------------

    def start(self) -> None:
        """`seedbed serve`'s background parts: cluster and power jobs, dnsmasq, the inventory
        watcher."""
        if self.read_only:
            raise RuntimeError("a read-only Seedbed cannot start")
        self.store.keep_writer()
        self.cluster.start()
        self.power.start()
        if self.dnsmasq is not None:
            self.dnsmasq.update(self.inventory)
            self.dnsmasq.start()
        self._watcher = _Watcher(self.refresh, self.settings.reload_seconds)
        self._watcher.start()
        self.signed_chain.start()
        self._render_seeds_ahead(self.inventory)

    def stop(self) -> None:
        """Stop what start() started, the last started first. The store stays open: HTTP
        threads may still be answering (Store.close() is for when they are done)."""
        self.signed_chain.stop()
        if self._watcher is not None:
            self._watcher.stop()
        if self.dnsmasq is not None:
            self.dnsmasq.stop()
        self.power.stop()
        self.cluster.stop()

    # -- the inventory ---------------------------------------------------------------

    def refresh(self) -> bool:
        """Take the inventory file if it changed since it was last taken: node rows synced,
        dnsmasq's configuration followed. A broken edit keeps the last good inventory
        (logged). True when a new inventory was taken."""
        path = self.settings.inventory_path
        with self._lock:
            try:
                stamp = _file_stamp(path)
                if stamp == self._stamp:
                    return False
                self._stamp = stamp
                inventory = load_inventory(path).inventory
            except (OSError, InventoryError) as exc:
                log.error("inventory %s not reloaded, keeping the last good one: %s", path, exc)
                return False
            self._take(inventory)
        log.info("inventory %s reloaded: %d nodes", path, len(inventory.nodes))
        return True

    def _take(self, inventory: Inventory) -> None:
        self.lifecycle.sync(inventory)
        if self.dnsmasq is not None:
            self.dnsmasq.update(inventory)
        self.inventory = inventory
        if self._watcher is not None:  # started: serving
            self._render_seeds_ahead(inventory)

    def _render_seeds_ahead(self, inv: Inventory) -> None:
        """Every node's user-data rendered on a thread of its own (seed_texts module doc),
        with what the seed endpoint will pass; it stops when another inventory is taken."""
        key = self.service_key()

        def render_args(node: Node) -> RenderArgs:
            return install_method(inv, node), key, self.cluster_token(node)

        threading.Thread(target=self.seed_texts.warm, name="seed-renderer", daemon=True,
                         args=(inv, inv.site.base_url, render_args, lambda: self.inventory)).start()

    def accept_discovered(self, mac: str, node: dict[str, Any], who: str) -> Inventory:
        """Add a discovered machine to the inventory file and take the new inventory at once.

        Raises InventoryError or EditConflict (inventory_edit) and changes nothing then.
        """
        inventory = add_node(self.settings.inventory_path,
                             {"hostname": node.get("hostname"), "macs": [mac], **node},
                             lambda loaded: self._take_written(loaded.inventory))
        self.lifecycle.accept_discovered(mac, node["hostname"], who)
        return inventory

    def _take_written(self, inventory: Inventory) -> Inventory:
        # Under the edit lock: the next edit starts from this file, and the one in memory.
        with self._lock:
            self._take(inventory)
            self._stamp = _file_stamp(self.settings.inventory_path)
        return inventory

    # -- hooks -------------------------------------------------------------------------

    def service_key(self) -> str | None:
        """seedbed's public SSH key line, authorized on every node; None before the first start."""
        key = self.cluster.service_key
        return key.public if key else None

    def cluster_token_needed(self) -> bool:
        return self.inventory.cluster.engine == "rke2"  # RKE has no join token

    def cluster_token(self, node: Node) -> str | None:
        """RKE2's join token for this member's per-install seed; None for RKE."""
        return self.cluster.rke2_token(node) if self.cluster_token_needed() else None

    def power_action(self, hostname: str, action: str, who: str,
                     minutes: int | None = None) -> int:
        """Queue a power job for the CLI, the admin API and the console alike; `reinstall`
        first arms the node (for `minutes`, else the site's window) and the job then sets its
        next boot to the network once and cycles it. PowerUnavailable (nothing changed) when
        the node's driver cannot, or has a job already."""
        self.power.check(hostname, action)  # refuse before arming: nothing changes
        if action == "reinstall":
            window = minutes or self.inventory.site.reinstall_window_minutes
            self.lifecycle.rearm(hostname, window * 60, who=who)
        return self.power.request(hostname, action, who)

    def power_on_accepted(self, hostname: str, who: str) -> tuple[int | None, str | None]:
        """A machine just accepted is a new node, armed already: queue its power job (network
        boot once, then on or cycle); or say, in an event too, why its driver cannot."""
        try:
            return self.power.request(hostname, "reinstall", who), None
        except PowerUnavailable as exc:
            with self.store.transaction() as db:
                self.store.add_event(db, self.lifecycle.clock(), "power",
                                     f"power on after accepting not queued: {exc}", hostname=hostname)
            return None, str(exc)

    def node_ready(self, hostname: str) -> None:
        """Hook after a ready callback (healthy or not): the cluster may need a run."""
        self.cluster.node_ready(hostname)


class _Watcher:
    """Calls `refresh` every `seconds` on its own thread, so an edited inventory file is
    taken even when no machine is asking seedbed anything."""

    def __init__(self, refresh: Callable[[], object], seconds: float):
        self._refresh = refresh
        self._seconds = max(seconds, 0.05)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="inventory-watcher", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stopping.wait(self._seconds):
            try:
                self._refresh()
            except Exception:  # the watcher must outlive any one failure
                log.exception("inventory refresh failed")


def _file_stamp(path: Path) -> tuple[int, int]:
    st = os.stat(path)
    return (st.st_mtime_ns, st.st_size)


def _check_state_folder(folder: Path) -> None:
    if folder.exists() and not folder.is_dir():
        raise StateFolderError(f"state folder {folder} is not a folder")


def _state_folder(settings: Settings) -> Path:
    """The state folder, made private (tokens' hashes, the service key, credentials);
    the database's path in it."""
    folder = settings.state_dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
        os.chmod(folder, 0o700)
    except OSError as exc:
        raise StateFolderError(f"state folder {folder} cannot be used: {exc.strerror}") from None
    return settings.database
