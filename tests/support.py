"""Test support: a small test inventory, a service with a controllable clock, its client."""

from __future__ import annotations

import copy
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from seedbed.inventory import Inventory, parse_inventory
from seedbed.service import Seedbed, Settings
from seedbed.tokens import new_token, token_hash
from seedbed.web import create_app

ADMIN_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEJ2y7Yd2tOq3Ylq2cVbC0R8Vq2gq0c2pKJ0u7Q0Y2Hq test@seedbed"

BASE_INVENTORY: dict[str, Any] = {
    "site": {
        "domain": "lab.test",
        "subnet": "10.20.0.0/24",
        "gateway": "10.20.0.1",
        "dns": ["10.20.0.1"],
        "ntp": ["ntp.lab.test"],
        "base_url": "http://10.20.0.5:8080",
        "seed_ttl_minutes": 60,
    },
    "admin": {"username": "labadmin", "password": "s3cret-admin-pw", "ssh_keys": [ADMIN_KEY]},
    "installer": {"kernel": "ubuntu/vmlinuz", "initrd": "ubuntu/initrd",
                  "iso": "http://10.20.0.5:8080/files/ubuntu/focal.iso"},
    "nodes": [
        {"hostname": "gpu01", "macs": ["52:54:00:00:00:01"], "ip": "10.20.0.21",
         "roles": ["controlplane", "etcd", "worker"], "gpus": 2, "disk": {"model": "Samsung 980"}},
        {"hostname": "gpu02", "macs": ["52-54-00-00-00-02"], "ip": "10.20.0.22",
         "roles": ["worker"], "gpus": 0},
    ],
}


def inventory_data(**changes: Any) -> dict[str, Any]:
    """A deep copy of the test inventory; keyword values replace top-level sections."""
    data = copy.deepcopy(BASE_INVENTORY)
    data.update(copy.deepcopy(changes))
    return data


def healthy_facts(node: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A ready report that passes every health check for this inventory node (a dict of
    the inventory's `nodes`); keyword values replace top-level facts."""
    gpus = node.get("gpus", 0)
    facts = {
        "hostname": node["hostname"],
        "fqdn": f"{node['hostname']}.lab.test",
        "gpus": [{"name": "NVIDIA RTX A6000", "driver": "535.183.01", "memory_mib": 49140}] * gpus,
        "nvidia_smi": bool(gpus),
        "docker": {"version": "24.0.9", "default_runtime": "nvidia" if gpus else "runc",
                   "runtimes": ["io.containerd.runc.v2", "nvidia", "runc"]},
        "sshd": {"passwordauthentication": "no", "permitrootlogin": "no",
                 "allowtcpforwarding": "yes", "pubkeyauthentication": "yes"},
        "swap_kib": 0,
        "firewall": {"tool": "ufw", "active": True, "rules": [], "installed": True},
        # What an RKE2 node adds (RKE's checks ignore it): its containerd, nvidia on GPU nodes.
        "rke2": {"install_failed": None, "containerd_running": True,
                 "containerd_runtimes": ["nvidia", "runc"] if gpus else ["runc"]},
    }
    facts.update(copy.deepcopy(changes))
    return facts


def inventory_of(data: dict[str, Any] | None = None) -> Inventory:
    """The parsed Inventory of this inventory data (the test inventory's by default);
    InventoryError if it is invalid."""
    return parse_inventory(yaml.safe_dump(inventory_data() if data is None else data)).inventory


def write_inventory(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Clock:
    def __init__(self, now: float = 1_800_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def make_service(tmp_path: Path, clock: Clock) -> Callable[..., Seedbed]:
    def make(data: dict[str, Any] | None = None) -> Seedbed:
        inventory = write_inventory(tmp_path / "lab.yaml", data or inventory_data())
        return Seedbed(Settings(inventory, tmp_path / "state", reload_seconds=0), clock)

    return make


@pytest.fixture
def service(make_service: Callable[..., Seedbed]) -> Seedbed:
    return make_service()


@pytest.fixture
def client(service: Seedbed):  # noqa: ANN201
    return create_app(service).test_client()


@pytest.fixture
def admin_headers(service: Seedbed) -> dict[str, str]:
    token = new_token()
    service.store.add_admin_token(token_hash(token), "tests")
    return {"Authorization": f"Bearer {token}"}


def seed_token(script: str) -> str:
    """The install token inside an iPXE or GRUB install script."""
    match = re.search(r"/seed/([A-Za-z0-9_-]+)/", script)
    assert match, f"no seed URL in script:\n{script}"
    return match.group(1)


def place_file(source: Path, target: Path) -> None:
    """Put a cached artifact into a files folder: a hard link, or a copy across filesystems.

    Not a symlink: seedbed refuses links that leave its files folder.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source.resolve(), target)
    except OSError:
        shutil.copyfile(source, target)


def run_threads(threads: Sequence[threading.Thread], timeout: float, what: str) -> None:
    """Start every thread and wait for all of them, failing (naming `what`) if one hangs."""
    for t in threads:
        t.start()
    join_threads(threads, timeout, what)


def join_threads(threads: Sequence[threading.Thread], timeout: float, what: str) -> None:
    """Wait for threads already started, failing (naming `what`) if one hangs."""
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"{what} hung (> {timeout:.0f} s)"


class Started(list):
    """What one test started (guests, services, labs), stopped in order at its end:
    a factory fixture adds to it and calls stop_all() after its yield."""

    def add(self, thing: Any) -> Any:  # noqa: ANN401 - returns what it was given
        self.append(thing)
        thing.start()
        return thing

    def stop_all(self) -> None:
        for thing in self:
            thing.stop()


@contextmanager
def server_in_thread(app: Any, limits: Any, memory_paths: frozenset[str] = frozenset()) -> Iterator[Any]:  # noqa: ANN401
    """seedbed's HTTP server (seedbed.httpserver.build_server) for `app` on a free loopback
    port, its loop in a thread named "connection-loop"; closed and joined at the end."""
    from seedbed.httpserver import build_server

    server = build_server(app, "127.0.0.1", free_port(), limits, memory_paths=memory_paths)

    def loop() -> None:
        server.loop_thread = threading.get_ident()
        server.run()

    thread = threading.Thread(target=loop, name="connection-loop", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        for channel in list(server._map.values()):
            channel.close()
        server._map.clear()  # the loop ends when its map is empty
        server.task_dispatcher.shutdown()
        thread.join(5)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServeProcess:
    """A real `seedbed serve` subprocess on a free port; stopped (and its log kept) on exit."""

    def __init__(self, inventory: Path, state: Path, host: str = "127.0.0.1",
                 port: int | None = None, extra_args: Sequence[str] = (),
                 env: dict[str, str] | None = None):
        self.inventory, self.state, self.host = inventory, state, host
        self.port = port or free_port()
        self.log_path = state.parent / f"serve-{self.port}.log"
        self.extra_args, self.env = list(extra_args), env
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30) -> ServeProcess:
        argv = [sys.executable, "-m", "seedbed.cli", "serve", "--inventory", str(self.inventory),
                "--state", str(self.state), "--host", self.host, "--port", str(self.port),
                *self.extra_args]
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(self.env or {})})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"seedbed serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"seedbed serve did not answer /healthz within {timeout}s:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)

    def __enter__(self) -> ServeProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def make_certs(root: Path, timeout: float = 30) -> None:
    """A test CA (ca.pem) and a certificate for 127.0.0.1 signed by it (server.pem,
    server.key), made with openssl in `root`."""
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], capture_output=True, text=True, check=True,
                       timeout=timeout)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-subj", "/CN=seedbed test CA", "-keyout", str(root / "ca.key"),
            "-out", str(root / "ca.pem"))
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", str(root / "server.key"), "-out", str(root / "server.csr"))
    (root / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", str(root / "server.csr"), "-CA", str(root / "ca.pem"),
            "-CAkey", str(root / "ca.key"), "-CAcreateserial", "-days", "2",
            "-extfile", str(root / "ext.cnf"), "-out", str(root / "server.pem"))


def wait_for(what: str, probe: Callable[[], Any], timeout: float = 20.0,
             interval: float = 0.05) -> Any:
    """Poll until probe() is truthy; fail naming `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}", pytrace=False)
        time.sleep(interval)
