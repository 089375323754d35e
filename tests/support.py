"""Test support: a small test inventory, a service with a controllable clock, its client."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

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
