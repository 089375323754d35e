"""`seedbed serve --dnsmasq`: run dnsmasq as a child, keep it running, follow the inventory.

One writer for dnsmasq.conf (this class), so concurrent reloads cannot interleave.
A new configuration is checked with `dnsmasq --test` before it replaces the running
one; a rejected one is logged and the old one keeps serving. dnsmasq reads its main
configuration only at start, so a change means a restart (it takes milliseconds).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..fsutil import atomic_write
from ..inventory import Inventory
from . import dnsmasq

log = logging.getLogger("seedbed.dnsmasq")

Record = Callable[[str, str], None]  # (kind, message): the service's event log


def _die_with_parent() -> None:
    # In the child before exec: dnsmasq must not outlive a seedbed killed with SIGKILL.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class DnsmasqSupervisor:
    def __init__(
        self,
        state_dir: Path,
        *,
        binary: str = "dnsmasq",
        record: Record | None = None,
        poll_seconds: float = 1.0,
        min_backoff: float = 1.0,
        max_backoff: float = 60.0,
        healthy_after: float = 30.0,
    ) -> None:
        self.paths = dnsmasq.Paths(state_dir)
        self.binary = binary
        self._record = record or (lambda kind, message: None)
        self._poll = poll_seconds
        self._min_backoff, self._max_backoff = min_backoff, max_backoff
        self._healthy_after = healthy_after
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._text: str | None = None  # the configuration on disk
        self._restart = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._started_at = 0.0
        self._backoff = min_backoff
        self._next_start = 0.0
        self._thread: threading.Thread | None = None
        self.starts = 0  # how many times dnsmasq was started (for tests and status)

    # -- inventory ---------------------------------------------------------------------

    def update(self, inv: Inventory) -> bool:
        """Write the configuration for `inv` if it changed; True if dnsmasq must restart."""
        try:
            text = dnsmasq.config_text(inv, self.paths)
        except dnsmasq.DnsmasqConfigError as exc:  # never break the inventory reload
            self._note("error", f"dnsmasq configuration not rendered, keeping the last: {exc}")
            return False
        with self._lock:
            if text == self._text:
                return False
            problem = self._syntax_problem(text)
            if problem:
                self._note("error", f"dnsmasq configuration rejected, keeping the last one: {problem}")
                return False
            for path in dnsmasq.missing_boot_files(inv):
                self._note(
                    "error",
                    f"{path} is missing: PXE clients cannot load iPXE "
                    "(apt-get install ipxe, or set dhcp.tftp_root)",
                )
            atomic_write(self.paths.conf, text.encode(), mode=0o644)
            self._text, self._restart = text, True
        self._wake.set()
        return True

    def _syntax_problem(self, text: str) -> str | None:
        self.paths.state.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.paths.state, prefix=".check-", suffix=".conf") as f:
            f.write(text)
            f.flush()
            try:
                proc = subprocess.run(
                    [self.binary, "--test", f"--conf-file={f.name}"],
                    capture_output=True,
                    text=True,
                    timeout=30,
                    stdin=subprocess.DEVNULL,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                return f"cannot run {self.binary}: {exc}"
        return None if proc.returncode == 0 else (proc.stderr or proc.stdout).strip()

    # -- the child process ---------------------------------------------------------------

    def start(self, poll_inventory: Callable[[], object] | None = None) -> None:
        """Run the supervising thread; `poll_inventory` is called each round so an edited
        inventory file is noticed even when no machine is asking seedbed anything."""
        if self._text is None:
            raise RuntimeError("update() the supervisor with an inventory before start()")
        self._thread = threading.Thread(
            target=self._run, args=(poll_inventory,), name="dnsmasq-supervisor", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._terminate()

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def _run(self, poll_inventory: Callable[[], object] | None) -> None:
        while not self._stopping.is_set():
            if poll_inventory is not None:
                try:
                    poll_inventory()
                except Exception:  # a bad reload must not kill supervision
                    log.exception("inventory poll failed")
            self._step()
            self._wake.wait(self._poll)
            self._wake.clear()

    def _step(self) -> None:
        with self._lock:
            restart, self._restart = self._restart, False
        proc = self._proc
        if proc is not None and proc.poll() is not None:
            self._exited(proc)
        elif restart and proc is not None:
            self._note("info", "inventory changed: restarting dnsmasq")
            self._terminate()
            self._next_start = 0.0
        if self._proc is None and time.monotonic() >= self._next_start:
            self._spawn()

    def _exited(self, proc: subprocess.Popen[bytes]) -> None:
        ran = time.monotonic() - self._started_at
        if ran >= self._healthy_after:
            self._backoff = self._min_backoff
        self._note(
            "error",
            f"dnsmasq exited (rc={proc.returncode}) after {ran:.0f}s; "
            f"restarting in {self._backoff:.0f}s: {self._log_tail()}",
        )
        self._proc = None
        self._next_start = time.monotonic() + self._backoff
        self._backoff = min(self._backoff * 2, self._max_backoff)

    def _spawn(self) -> None:
        cmd = [self.binary, "--keep-in-foreground", f"--conf-file={self.paths.conf}"]
        log_path = self.paths.state / "dnsmasq.log"
        try:
            with open(log_path, "ab") as out:
                self._proc = subprocess.Popen(
                    cmd,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                )
        except OSError as exc:
            self._note("error", f"cannot start {self.binary}: {exc}")
            self._next_start = time.monotonic() + self._backoff
            self._backoff = min(self._backoff * 2, self._max_backoff)
            return
        self._started_at = time.monotonic()
        self.starts += 1
        self._note("info", f"dnsmasq started (pid {self._proc.pid})")

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = (self.paths.state / "dnsmasq.log").read_text(errors="replace")
        except OSError:
            return "(no log)"
        return " | ".join(text.strip().splitlines()[-lines:])

    def _note(self, level: str, message: str) -> None:
        getattr(log, level)(message)
        self._record("dnsmasq", message)
