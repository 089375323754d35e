"""The signed boot chain for Secure Boot nodes, written into dnsmasq's TFTP root.

Firmware with Secure Boot on runs only signed code, so those nodes get shim (signed by
Microsoft) as their boot file, shim runs the distribution-signed GRUB beside it, and GRUB
reads `grub/grub.cfg` from the TFTP root. That bootstrap goes on to the machine's own
config: seedbed's /grub over HTTP (dhcp.grub_config: http, GRUB >= 2.12), or a per-MAC
`grub/grub.cfg-01-<mac>` that seedbed writes here (GRUB 2.06 has no http and Secure Boot
forbids loading modules), with kernel and initrd placed under `files/` for TFTP.

dnsmasq reads TFTP files as its own unprivileged user, which cannot enter seedbed's state
folder (0700): the tree goes into dhcp.tftp_root, a folder seedbed writes (validate
refuses the ipxe package's default for Secure Boot nodes), and kernel and initrd are
hard-linked there from the files folder (copied across file systems).

A TFTP client is invisible to seedbed, so a per-MAC config of an armed node carries an
install begun when the file is written; it is rewritten when the node's decision changes
and re-issued, while nobody has used it, once less than half its seed time is left.
Every file is written atomically.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import render
from ..artifacts import GRUB, SHIM, release_folder
from ..boot import NetbootRequest, decide_now, install_profile, netboot
from ..fsutil import atomic_write
from ..inventory import Inventory, Node
from ..lifecycle import Lifecycle

log = logging.getLogger("seedbed.signedboot")

SHIM_FILE, GRUB_FILE = "bootx64.efi", "grubx64.efi"  # shim loads grubx64.efi from its own folder
BOOTSTRAP = "grub/grub.cfg"
LINKED_FILES = "files"
SYNC_SECONDS = 2.0


def uses_signed_chain(inv: Inventory) -> bool:
    return any(inv.secure_boot(node) for node in inv.nodes)


def mac_config_name(mac: str) -> str:
    """GRUB's per-MAC naming (01- and the MAC with hyphens); Debian's signed GRUB does not
    search for it itself, so the bootstrap builds the name from $net_default_mac."""
    return f"grub/grub.cfg-01-{mac.replace(':', '-')}"


def grub_fetch(inv: Inventory, node: Node | None) -> render.GrubFetch:
    """How this node's GRUB fetches files: its port kept for the signed GRUB >= 2.12."""
    if node is not None and inv.secure_boot(node) and inv.dhcp.grub_config == "http":
        return "http-port"
    return "http"


def bootstrap_text(inv: Inventory, over_http: bool = False) -> str:
    """`over_http`: GRUB itself came over UEFI HTTP boot, so it has http (>= 2.12)."""
    if over_http or inv.dhcp.grub_config == "http":
        return render.grub_bootstrap(render.grub_path_with_port(f"{inv.site.base_url}/grub", ""))
    return render.grub_bootstrap(None)


@dataclass
class _Issued:
    install_id: int
    expires_at: float
    text: str


class SignedChainTree:
    """Keeps STATE/tftp in step with the inventory and the nodes' decisions."""

    def __init__(self, files: Path, lifecycle: Lifecycle):
        self.files, self.lifecycle = files, lifecycle
        self.root = Path("/nonexistent")  # dhcp.tftp_root, taken from each inventory
        self._issued: dict[str, _Issued] = {}  # per MAC: the install its config carries
        self._copied: dict[str, tuple[str, int, int]] = {}  # shim/GRUB: (target, size, mtime)
        self._lock = threading.Lock()

    def sync(self, inv: Inventory) -> None:
        with self._lock:
            self.root = Path(inv.dhcp.tftp_root)
            if inv.installer.release is None:
                return  # validate refuses Secure Boot nodes without it
            chain = release_folder(self.files, inv.installer.release)
            self._copy(chain / SHIM, SHIM_FILE)
            self._copy(chain / GRUB, GRUB_FILE)
            self._write(BOOTSTRAP, bootstrap_text(inv))
            wanted = self._machine_configs(inv) if inv.dhcp.grub_config == "tftp" else {}
            for name, text in wanted.items():
                self._write(name, text)
            self._remove_stale(set(wanted))

    def _machine_configs(self, inv: Inventory) -> dict[str, str]:
        configs = {}
        for node in inv.nodes:
            if not inv.secure_boot(node):
                continue
            for location in self._tftp_files(inv, node):
                self._place(self.files / location, f"{LINKED_FILES}/{location}")
            for mac in node.macs:
                configs[mac_config_name(mac)] = self._config(inv, node, mac)
        return configs

    def _tftp_files(self, inv: Inventory, node: Node) -> list[str]:
        profile = install_profile(inv, node)
        return [loc.lstrip("/") for loc in (profile.kernel, profile.initrd)
                if not loc.startswith(("http://", "https://"))]

    def _config(self, inv: Inventory, node: Node, mac: str) -> str:
        request = NetbootRequest(mac)  # GRUB reads these files over TFTP: no HTTP-only refusal
        decision = decide_now(inv, self.lifecycle, request)
        if decision.action != "install":
            self._issued.pop(mac, None)
            return render.grub_config(decision, inv.site.base_url, "tftp")
        issued = self._issued.get(mac)
        if issued is None or not self._still_usable(node, issued, inv.site.seed_ttl_minutes * 60):
            decision = netboot(inv, self.lifecycle, request)  # begins the install
            text = render.grub_config(decision, inv.site.base_url, "tftp")
            row = self.lifecycle.store.node(node.hostname)
            install_id = row.install_id if row and row.install_id else 0
            install = self.lifecycle.store.install(install_id)
            issued = _Issued(install_id, install.expires_at if install else 0.0, text)
            self._issued[mac] = issued
            log.info("%s: TFTP config for %s carries install #%s", node.hostname, mac,
                     issued.install_id)
        return issued.text

    def _still_usable(self, node: Node, issued: _Issued, ttl: float) -> bool:
        """The install the file names is current, and in use or with half its seed time left."""
        row = self.lifecycle.store.node(node.hostname)
        install = self.lifecycle.store.install(issued.install_id)
        if row is None or install is None or row.install_id != issued.install_id:
            return False
        return install.state != "issued" or self.lifecycle.clock() < install.expires_at - ttl / 2

    # -- files ------------------------------------------------------------------------------

    def _write(self, name: str, text: str) -> None:
        path = self.root / name
        data = text.encode()
        if path.is_file() and path.read_bytes() == data:
            return
        atomic_write(path, data)

    def _copy(self, source: Path, name: str) -> None:
        """shim and GRUB as files of their own (not links into the 0700 state folder)."""
        path = self.root / name
        try:
            stamp = (str(path), source.stat().st_size, source.stat().st_mtime_ns)
            if self._copied.get(name) == stamp and path.is_file():
                return  # unchanged since the last round: no need to read megabytes again
            data = source.read_bytes()
        except OSError as exc:
            log.error("signed chain: cannot read %s: %s (seedbed artifacts import)", source, exc)
            return
        if not (path.is_file() and path.read_bytes() == data):
            atomic_write(path, data)
        self._copied[name] = stamp

    def _place(self, source: Path, name: str) -> None:
        """A hard link to `source` (a copy across file systems), swapped in atomically."""
        path = self.root / name
        if path.exists() and (os.path.samefile(path, source) or _same_copy(path, source)):
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.new")
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copy2(source, tmp)
        os.replace(tmp, path)

    def _remove_stale(self, wanted: set[str]) -> None:
        for path in (self.root / "grub").glob("grub.cfg-01-*"):
            if f"grub/{path.name}" not in wanted:
                path.unlink(missing_ok=True)


def _same_copy(path: Path, source: Path) -> bool:
    a, b = path.stat(), source.stat()
    return (a.st_size, a.st_mtime_ns) == (b.st_size, b.st_mtime_ns)


class SignedChainKeeper:
    """Runs SignedChainTree.sync on every inventory and every few seconds (decisions change
    with arming windows, callbacks and `seedbed reinstall` from another process)."""

    def __init__(self, tree: SignedChainTree, inventory: Callable[[], Inventory],
                 interval: float = SYNC_SECONDS):
        self.tree, self._inventory, self.interval = tree, inventory, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="signed-chain", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            inv = self._inventory()
            if uses_signed_chain(inv):
                try:
                    self.tree.sync(inv)
                except Exception:  # keep serving; the next round retries
                    log.exception("signed chain: TFTP tree not updated")
            self._stop.wait(self.interval)

