"""A real `seedbed serve` for boot tests: its inventory, files folder, TFTP dir and admin API.

The service listens on the host's loopback; slirp guests reach it as 10.0.2.2.
Everything a test asserts comes from outside the guest: the admin API (events,
node detail, discovered machines), the service's access log, and SSH.
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from support import ServeProcess, free_port, inventory_data, place_file, write_inventory

from .image import TestImage
from .qemu import HOST_IP, BootStageError, Guest

PROFILE = "debian-test"
ADMIN_USER = "labadmin"
ADMIN_PASSWORD = "boot-test-pw"  # noqa: S105 - a throwaway test guest's sudo password
API_TIMEOUT = 10

Event = dict[str, Any]


def lab_inventory(base_url: str, admin_key: str, nodes: list[dict[str, Any]]) -> dict[str, Any]:
    """The test lab: slirp's subnet, a boot profile for the Debian test kernel, no `ntp`
    (its cloud-init module may try to install packages the test image lacks)."""
    return inventory_data(
        site={"domain": "lab.test", "subnet": "10.0.2.0/24", "gateway": "10.0.2.2",
              "dns": ["10.0.2.3"], "base_url": base_url, "seed_ttl_minutes": 60},
        admin={"username": ADMIN_USER, "password": ADMIN_PASSWORD, "ssh_keys": [admin_key]},
        profiles={PROFILE: {"kernel": "test/vmlinuz", "initrd": "test/initrd.img",
                            "cmdline": "root=/dev/vda rw console=ttyS0", "seed": "cloud-config"}},
        nodes=nodes,
    )


class Lab:
    """One service with its state under `root`; start() runs it, stop() ends it.

    The boot tests' lab by default (the Debian test kernel and its profile); a suite with
    other files and nodes (the golden image's) passes `inventory`, given the service's URL,
    and fills `files` before start().
    """

    def __init__(self, root: Path, image: TestImage | None, admin_key: str,
                 nodes: list[dict[str, Any]], host_ip: str = HOST_IP,
                 extra_args: tuple[str, ...] = (),
                 inventory: Callable[[str], dict[str, Any]] | None = None):
        """`host_ip`: how guests reach the service (slirp's host, or a guestfwd address)."""
        self.root = root
        self.port = free_port()  # chosen first: the inventory's base_url names it
        self.base_url = f"http://{host_ip}:{self.port}"
        self.files = root / "files"
        self.files.mkdir(parents=True, exist_ok=True)
        if image is not None:
            place_file(image.kernel, self.files / "test" / "vmlinuz")
            place_file(image.initrd, self.files / "test" / "initrd.img")
        data = (inventory or (lambda url: lab_inventory(url, admin_key, nodes)))(self.base_url)
        self.inventory = write_inventory(root / "lab.yaml", data)
        self.state = root / "state"
        # Cluster auto-runs off: a ready node must not start an `rke up` in a boot test.
        self.server = ServeProcess(self.inventory, self.state, port=self.port,
                                   extra_args=["--files", str(self.files), *extra_args],
                                   env={"SEEDBED_CLUSTER_AUTO": "0"})
        self.tftp = root / "tftp"
        self.headers: dict[str, str] = {}

    @property
    def url(self) -> str:
        """The service as the host reaches it."""
        return self.server.url

    def start(self) -> Lab:
        self.server.start()
        self.headers = {"Authorization": f"Bearer {self._admin_token()}"}
        # The TFTP dir holds the service's own chain script, exactly as it serves it.
        chain = requests.get(f"{self.url}/boot.ipxe", timeout=API_TIMEOUT)
        chain.raise_for_status()
        self.tftp.mkdir(exist_ok=True)
        (self.tftp / "boot.ipxe").write_text(chain.text)
        return self

    def stop(self) -> None:
        self.server.stop()

    def _admin_token(self) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "seedbed.cli", "token", "create", "--label", "boot-tests",
             "--inventory", str(self.inventory), "--state", str(self.state)],
            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert done.returncode == 0, f"seedbed token create failed: {done.stderr}"
        return done.stdout.strip()

    # -- admin API ------------------------------------------------------------

    def api(self, path: str, **params: Any) -> Any:
        response = requests.get(f"{self.url}/api/v1/{path}", params=params, headers=self.headers,
                                timeout=API_TIMEOUT)
        assert response.status_code == 200, f"GET /api/v1/{path}: {response.status_code} {response.text}"
        return response.json()

    def node(self, hostname: str) -> dict[str, Any]:
        return self.api(f"nodes/{hostname}")

    def events(self, hostname: str | None = None) -> list[Event]:
        path = f"nodes/{hostname}/events" if hostname else "events"
        return self.api(path, limit=1000)["events"]

    def discovered(self) -> list[dict[str, Any]]:
        return self.api("discovered")["discovered"]

    def find_event(self, hostname: str | None, match: Callable[[Event], bool],
                   after_id: int = 0) -> Event | None:
        return next((e for e in self.events(hostname) if e["id"] > after_id and match(e)), None)

    def wait_event(self, guest: Guest, hostname: str | None, match: Callable[[Event], bool],
                   timeout: float, stage: str, after_id: int = 0) -> Event:
        """Poll the admin API until an event matches; BootStageError(stage) with the console
        tail and the service's log tail if it does not come (or the service died)."""

        def check() -> Event | None:
            if not self.serving():
                raise guest.fail(stage, f"seedbed serve has exited:\n{self.log_tail()}")
            return self.find_event(hostname, match, after_id)

        try:
            return guest.wait_until(check, timeout, stage, interval=1)
        except BootStageError as exc:
            if not self.serving():
                raise  # the detail already carries the service's log
            raise BootStageError(stage, f"{exc.detail}\n----- seedbed serve log (tail) -----\n"
                                        f"{self.log_tail()}", exc.console_tail) from None

    def serving(self) -> bool:
        return self.server.proc is not None and self.server.proc.poll() is None

    def last_event_id(self) -> int:
        events = self.events()
        return events[-1]["id"] if events else 0

    # -- access log -------------------------------------------------------------

    def log_tail(self, lines: int = 20) -> str:
        """The service log's last lines, without the tests' own admin API polling."""
        polling = re.compile(r"GET /api/v1/(nodes|events|discovered)\b")
        kept = [line for line in self.access_log().splitlines() if not polling.search(line)]
        return "\n".join(kept[-lines:])

    def access_log(self) -> str:
        path = self.server.log_path
        return path.read_text(errors="replace") if path.exists() else ""

    def requested(self, method: str, path_pattern: str, status: int) -> re.Match[str] | None:
        """An access-log line `... seedbed.http: ADDR METHOD PATH STATUS` (tokens redacted)."""
        line = rf"seedbed\.http: \S+ {method} {path_pattern} {status} "
        return re.search(line, self.access_log())
