"""Fixtures for the installer suite: the set-up installer and live seedbeds on loopback.

Every test here is marked `installer`; without the pinned sources the suite skips
with one line saying where it looked.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from seedbed.store import Store
from seedbed.tokens import new_token, token_hash
from support import ServeProcess, Started, free_port, write_inventory

from .harness import RELEASES, InstallerRunner, missing_sources, prepare_installer
from .lab import LiveLab, loopback_inventory

RELEASE = "23.02.1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.installer)


@pytest.fixture(scope="session")
def installer_runner() -> InstallerRunner:
    why = missing_sources(RELEASES[RELEASE])
    if why:
        pytest.skip(why)
    started = time.monotonic()
    installer = prepare_installer(RELEASE)
    print(f"\ninstaller {RELEASE}: ready in {time.monotonic() - started:.1f}s "
          f"(set-up when built: {installer.manifest['setup_seconds']}s)")
    # Nothing listens on this port: proxied (non-loopback) requests fail there.
    return InstallerRunner(installer, closed_port=free_port())


@pytest.fixture(scope="module")
def live_lab_factory(installer_runner: InstallerRunner,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    servers = Started()

    def start(data: dict[str, Any], name: str) -> LiveLab:
        work = tmp_path_factory.mktemp(name)
        port = free_port()
        data = loopback_inventory(data, f"http://127.0.0.1:{port}", installer_runner.blackhole)
        inventory = write_inventory(work / "lab.yaml", data)
        state = work / "state"
        admin = new_token()
        Store(state / "seedbed.sqlite3").add_admin_token(token_hash(admin), "installer tests")
        server = servers.add(ServeProcess(inventory, state, port=port))
        return LiveLab(server, admin, installer_runner, work)

    yield start
    servers.stop_all()
