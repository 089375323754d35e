"""A live `seedbed serve` on loopback that machines under test boot from."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import yaml

from support import ServeProcess, seed_token

from .harness import DryRun, InstallerRunner
from .machines import Machine


@dataclass
class LiveLab:
    """A running `seedbed serve` on loopback with its inventory and an admin token."""

    server: ServeProcess
    admin_token: str
    runner: InstallerRunner
    work: Path

    def seed(self, mac: str) -> tuple[str, dict[str, Any]]:
        """Boot `mac` the way a machine does: its install script, then its user-data."""
        url = self.server.url
        script = requests.get(f"{url}/ipxe", params={"mac": mac}, timeout=10)
        assert script.ok, f"stage /ipxe for {mac}: HTTP {script.status_code}"
        token = seed_token(script.text)
        user_data = requests.get(f"{url}/seed/{token}/user-data", timeout=10)
        assert user_data.ok, f"stage user-data for {mac}: HTTP {user_data.status_code}"
        document = yaml.safe_load(user_data.text)
        assert "autoinstall" in document, f"stage user-data for {mac}: no autoinstall section"
        return token, document["autoinstall"]

    def install(self, hostname: str, mac: str, machine: Machine,
                fail_command: str | None = None) -> tuple[str, dict[str, Any], DryRun]:
        token, autoinstall = self.seed(mac)
        run = self.runner.run(autoinstall, machine.probert(), machine.rotational(),
                              self.work / f"{hostname}-{int(time.monotonic() * 1000)}",
                              fail_command=fail_command)
        if self.server.proc is None or self.server.proc.poll() is not None:
            raise AssertionError(f"seedbed serve died during {hostname}'s dry-run:\n{self.server.log()}")
        return token, autoinstall, run

    def events(self, hostname: str) -> list[dict[str, Any]]:
        response = requests.get(f"{self.server.url}/api/v1/nodes/{hostname}/events",
                                headers={"Authorization": f"Bearer {self.admin_token}"}, timeout=10)
        assert response.ok, f"stage events API for {hostname}: HTTP {response.status_code}"
        return response.json()["events"]


def loopback_inventory(data: dict[str, Any], base_url: str, closed: str) -> dict[str, Any]:
    """The inventory with every URL a seed carries pointed at loopback."""
    site = data["site"]
    site["base_url"] = base_url
    apt = site.get("apt") or {}
    for key in ("proxy", "mirror"):
        if key in apt:
            apt[key] = f"{closed}/{key}"
    if data["installer"].get("iso"):  # else the release's ISO under base_url's files/
        data["installer"]["iso"] = f"{base_url}/files/ubuntu/ubuntu-20.04.6-live-server-amd64.iso"
    if "ldap" in data:
        data["ldap"]["uri"] = [closed.replace("http://", "ldaps://")]
    return data


