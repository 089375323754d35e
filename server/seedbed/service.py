"""The running service's parts, wired once: settings, the inventory, the store, the lifecycle."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .cluster import ClusterManager, ClusterOptions
from .inventory import Inventory, InventoryError, load_inventory
from .inventory_edit import add_node
from .lifecycle import Lifecycle
from .power import PowerControl, PowerOptions
from .seed_texts import SeedTexts
from .store import Store

log = logging.getLogger("seedbed")


@dataclass(frozen=True)
class Settings:
    inventory_path: Path
    state_dir: Path
    files_dir: Path | None = None  # kernels, initrds, images; default STATE/files
    reload_seconds: float = 2.0
    cluster: ClusterOptions = ClusterOptions()  # retries, back-off, time-outs of cluster jobs
    power: PowerOptions = PowerOptions()  # retries, back-off and status polling of power jobs

    @property
    def artifacts(self) -> Path:
        return self.files_dir or self.state_dir / "files"


class InventorySource:
    """The inventory file, reloaded when it changes; a broken edit keeps the last good one."""

    def __init__(self, path: Path, inventory: Inventory, on_change: Callable[[Inventory], None],
                 reload_seconds: float):
        self.path = path
        self._on_change = on_change
        self._reload_seconds = reload_seconds
        self._lock = threading.Lock()
        self._checked = 0.0
        self._stamp = self._file_stamp()
        self._inventory = inventory
        on_change(inventory)

    def _file_stamp(self) -> tuple[int, int]:
        st = os.stat(self.path)
        return (st.st_mtime_ns, st.st_size)

    def get(self) -> Inventory:
        now = time.monotonic()
        if now - self._checked >= self._reload_seconds:
            with self._lock:
                if now - self._checked >= self._reload_seconds:
                    self._checked = now
                    self._maybe_reload()
        return self._inventory

    def replace(self, inventory: Inventory) -> None:
        """Take an inventory this process just wrote to the file."""
        with self._lock:
            self._on_change(inventory)
            self._inventory = inventory
            self._stamp = self._file_stamp()

    def _maybe_reload(self) -> None:
        try:
            stamp = self._file_stamp()
            if stamp == self._stamp:
                return
            self._stamp = stamp
            inventory = load_inventory(self.path).inventory
        except (OSError, InventoryError) as exc:
            log.error("inventory %s not reloaded, keeping the last good one: %s", self.path, exc)
            return
        self._on_change(inventory)
        self._inventory = inventory
        log.info("inventory %s reloaded: %d nodes", self.path, len(inventory.nodes))


class Seedbed:
    def __init__(self, settings: Settings, clock: Callable[[], float] = time.time):
        self.settings = settings
        # A bad inventory must fail before any state is created or changed.
        inventory = load_inventory(settings.inventory_path).inventory
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(settings.state_dir, 0o700)  # tokens' hashes, the service key, credentials
        self.store = Store(settings.state_dir / "seedbed.sqlite3")
        self.lifecycle = Lifecycle(self.store, clock)
        self.seed_texts = SeedTexts()
        self._listeners: list[Callable[[Inventory], None]] = []
        self.inventory_source = InventorySource(settings.inventory_path, inventory,
                                                self._inventory_changed, settings.reload_seconds)
        self.cluster = ClusterManager(self.store, lambda: self.inventory, settings.state_dir,
                                      settings.cluster)
        self.power = PowerControl(self.store, lambda: self.inventory, settings.state_dir,
                                  settings.power, clock)

    def start(self) -> None:
        """The long-running parts of `seedbed serve`: the SSH key pair, cluster and power jobs."""
        self.cluster.start()
        self.power.start()

    def service_key(self) -> str | None:
        """seedbed's public SSH key line, authorized on every node; None before the first start."""
        key = self.cluster.service_key
        return key.public if key else None

    def node_ready(self, hostname: str) -> None:
        """Hook after a ready callback (healthy or not): the cluster may need a run."""
        self.cluster.node_ready(hostname)

    def _inventory_changed(self, inventory: Inventory) -> None:
        self.lifecycle.sync(inventory)
        for listener in list(self._listeners):
            listener(inventory)

    def add_inventory_listener(self, listener: Callable[[Inventory], None]) -> None:
        """Call `listener` with the current inventory now and with each new one it loads."""
        self._listeners.append(listener)
        listener(self.inventory)

    @property
    def inventory(self) -> Inventory:
        return self.inventory_source.get()

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
        self.inventory_source.replace(inventory)
        return inventory
