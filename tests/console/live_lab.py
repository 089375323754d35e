"""A live `seedbed serve` on loopback with the console's test inventory, and a signed-in
HTTP session to it (what the stream tests and the browser suite drive)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import requests

from seedbed.admin_password import AdminPassword
from support import ServeProcess, write_inventory

from .conftest import CONSOLE_PASSWORD, console_inventory

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def start_serve(work: Path, *extra_args: str, data: dict[str, Any] | None = None) -> ServeProcess:
    inventory = write_inventory(work / "lab.yaml", data or console_inventory())
    AdminPassword(work / "state").set(CONSOLE_PASSWORD)
    # No cluster job unless asked for (rke is not here); one asked for stops at its first
    # preflight check, and the checks that would reach the network are off.
    env = {"SEEDBED_CLUSTER_AUTO": "0", "SEEDBED_CLUSTER_PREFLIGHT_SKIP": "network-plugin,charts,dns,nfs,ssh",
           "PATH": "/usr/bin:/bin"}
    return ServeProcess(inventory, work / "state", extra_args=extra_args, env=env).start()


def signed_in_session(url: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{url}/console/login", timeout=10)
    answer = session.post(f"{url}/console/login", allow_redirects=False, timeout=10,
                          data={"password": CONSOLE_PASSWORD, "csrf": CSRF.search(page.text).group(1)})
    assert answer.status_code == 303, f"stage sign-in: HTTP {answer.status_code}"
    return session
