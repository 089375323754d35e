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

from .harness import RELEASES, STANDINS, InstallerRunner, missing_sources, prepare_installer
from .lab import LiveLab, loopback_inventory

RELEASE = "23.02.1"  # Ubuntu 20.04.6's installer
NOBLE_RELEASE = "24.04.4.1"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.installer)


def _runner(release: str, lsb_release: str | None = None) -> InstallerRunner:
    why = missing_sources(RELEASES[release])
    if why:
        pytest.skip(why)
    started = time.monotonic()
    installer = prepare_installer(release)
    print(f"\ninstaller {release}: ready in {time.monotonic() - started:.1f}s "
          f"(set-up when built: {installer.manifest['setup_seconds']}s)")
    # Nothing listens on this port: proxied (non-loopback) requests fail there.
    return InstallerRunner(installer, closed_port=free_port(), lsb_release=lsb_release)


@pytest.fixture(scope="session")
def installer_runner() -> InstallerRunner:
    return _runner(RELEASE)


@pytest.fixture(scope="session")
def noble_runner() -> InstallerRunner:
    """Ubuntu 24.04's installer (subiquity 24.04.4.1)."""
    return _runner(NOBLE_RELEASE)


@pytest.fixture(scope="session")
def jammy_runner() -> InstallerRunner:
    """subiquity 23.02.1 installing 22.04: the 23.02 series is the 22.04.2 ISO's installer."""
    return _runner(RELEASE, str(STANDINS / "lsb-release-jammy"))


@pytest.fixture(scope="module")
def jammy_lab_factory(jammy_runner: InstallerRunner,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _lab_factory(jammy_runner, tmp_path_factory)


def _lab_factory(runner: InstallerRunner, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    servers = Started()

    def start(data: dict[str, Any], name: str) -> LiveLab:
        work = tmp_path_factory.mktemp(name)
        port = free_port()
        data = loopback_inventory(data, f"http://127.0.0.1:{port}", runner.blackhole)
        inventory = write_inventory(work / "lab.yaml", data)
        state = work / "state"
        admin = new_token()
        Store(state / "seedbed.sqlite3").add_admin_token(token_hash(admin), "installer tests")
        server = servers.add(ServeProcess(inventory, state, port=port))
        return LiveLab(server, admin, runner, work)

    yield start
    servers.stop_all()


@pytest.fixture(scope="module")
def live_lab_factory(installer_runner: InstallerRunner,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _lab_factory(installer_runner, tmp_path_factory)


@pytest.fixture(scope="module")
def noble_lab_factory(noble_runner: InstallerRunner,
                      tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from _lab_factory(noble_runner, tmp_path_factory)
