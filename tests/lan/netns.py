"""A throwaway test LAN made of network namespaces, removed afterwards even on failure.

- `server` namespace: bridge br0 (the switch) with seedbed's address on it; dnsmasq and
  `seedbed serve` run here, and QEMU guests attach through tap devices;
- further hosts (the router, a probe client) are namespaces joined to br0 by veth pairs.
No address here is reachable from outside: every namespace is created by the test.
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
from pathlib import Path

CMD_TIMEOUT = 20
PREFIX = "sbl"  # namespace names: sbl<pid>-<role>


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["ip", *args],
        capture_output=True,
        text=True,
        check=check,
        stdin=subprocess.DEVNULL,
        timeout=CMD_TIMEOUT,
    )


def remove_stale() -> None:
    """Namespaces left by test processes that died without cleaning up."""
    out = ip("netns", "list", check=False).stdout
    for line in out.splitlines():
        name = line.split()[0] if line.split() else ""
        pid = name[len(PREFIX) :].split("-", 1)[0]
        if name.startswith(PREFIX) and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            ip("netns", "del", name, check=False)


class TestLan:
    __test__ = False

    def __init__(self, prefix: str, server_host: int = 5) -> None:
        self.prefix = prefix  # "10.231.0": the /24 the test LAN uses
        self.server_ip = f"{prefix}.{server_host}"
        self.server = f"{PREFIX}{os.getpid()}-srv"
        self.namespaces: list[str] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self._veths = 0

    def __enter__(self) -> TestLan:
        remove_stale()
        atexit.register(self.close)
        try:
            self._add_namespace(self.server)
            self.ns(self.server, "ip", "link", "add", "br0", "type", "bridge")
            self.ns(self.server, "ip", "addr", "add", f"{self.server_ip}/24", "dev", "br0")
            self.ns(self.server, "ip", "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self.namespaces.append(name)
        self.ns(name, "ip", "link", "set", "lo", "up")

    def ns(
        self, name: str, *cmd: str, check: bool = True, timeout: float = CMD_TIMEOUT
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in a namespace (bounded)."""
        proc = subprocess.run(
            ["ip", "netns", "exec", name, *cmd],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            timeout=timeout,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} in {name}: rc={proc.returncode} {proc.stderr.strip()}")
        return proc

    def spawn(
        self, name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        """Start a long-running process in a namespace; close() stops it."""
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", name, *cmd],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def add_host(self, role: str, address: str | None) -> tuple[str, str]:
        """A namespace joined to br0 by a veth pair; returns (namespace, its interface)."""
        name = f"{PREFIX}{os.getpid()}-{role}"
        self._add_namespace(name)
        self._veths += 1
        near, far = f"vb{self._veths}", f"vh{self._veths}"
        self.ns(self.server, "ip", "link", "add", near, "type", "veth", "peer", "name", far, "netns", name)
        self.ns(self.server, "ip", "link", "set", near, "master", "br0", "up")
        if address:
            self.ns(name, "ip", "addr", "add", f"{address}/24", "dev", far)
        self.ns(name, "ip", "link", "set", far, "up")
        return name, far

    def add_tap(self, tap: str = "tap0") -> str:
        self.ns(self.server, "ip", "tuntap", "add", "dev", tap, "mode", "tap")
        self.ns(self.server, "ip", "link", "set", tap, "master", "br0", "up")
        return tap

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=10)
        self.procs.clear()
        for name in reversed(self.namespaces):
            ip("netns", "del", name, check=False)
        self.namespaces.clear()
        atexit.unregister(self.close)
