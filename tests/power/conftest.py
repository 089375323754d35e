"""Fixtures for the power tests: a service whose nodes have IPMI, Redfish, WoL and manual
power, real BMC simulators on loopback, and the secrets every test greps for."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from boot.conftest import boot_requirements, boot_timings, test_image  # noqa: F401 - fixtures by name
from seedbed.power import PowerOptions
from seedbed.service import Seedbed, Settings
from support import inventory_data, write_inventory

from .bmc import IpmiSim, RedfishEmulator

IPMI_PASSWORD = "ipmi-Pa55-7f3a9c"  # noqa: S105 - the test BMC's; grepped for everywhere
REDFISH_PASSWORD = "redfish-Pa55-e81b2d"  # noqa: S105
SECRETS = (IPMI_PASSWORD, REDFISH_PASSWORD)
OPTIONS = PowerOptions(attempts=2, backoff_seconds=0.2, backoff_max_seconds=0.2,
                       poll_seconds=3600)


def power_inventory(ipmi: str, redfish: str, **wol: Any) -> dict[str, Any]:
    data = inventory_data()
    base = data["nodes"]
    data["nodes"] = [
        {**base[0], "hostname": "bmc-ipmi",
         "power": {"driver": "ipmi", "address": ipmi, "username": "admin", "cipher_suite": 3}},
        {**base[1], "hostname": "bmc-redfish", "macs": ["52:54:00:00:00:03"], "ip": "10.20.0.23",
         "power": {"driver": "redfish", "address": redfish, "username": "root",
                   "secret": "rack1-redfish"}},
        {**base[1], "hostname": "wol-node", "macs": ["52:54:00:00:00:04"], "ip": "10.20.0.24",
         "power": {"driver": "wol", **wol}},
        {**base[1], "hostname": "desk-node", "macs": ["52:54:00:00:00:05"], "ip": "10.20.0.25",
         "power": {"driver": "manual", "instructions": "it is under the desk in room 3"}},
    ]
    return data


@pytest.fixture
def ipmi_sim(tmp_path: Path) -> Iterator[IpmiSim]:
    sim = IpmiSim(tmp_path / "ipmi", "admin", IPMI_PASSWORD).start()
    yield sim
    sim.stop()


@pytest.fixture
def redfish() -> Iterator[RedfishEmulator]:
    import tempfile

    emulator = RedfishEmulator(Path(tempfile.mkdtemp(prefix="redfish-")), "root",
                               REDFISH_PASSWORD).start()
    yield emulator
    emulator.stop()


@pytest.fixture
def power_service(tmp_path: Path, ipmi_sim: IpmiSim, redfish: RedfishEmulator,
                  caplog: pytest.LogCaptureFixture) -> Iterator[Seedbed]:
    """A service (real clock: jobs wait real back-off) with both credentials set."""
    caplog.set_level(logging.DEBUG)
    path = write_inventory(tmp_path / "lab.yaml", power_inventory(ipmi_sim.address, redfish.url))
    service = Seedbed(Settings(path, tmp_path / "state", reload_seconds=0, power=OPTIONS))
    service.power.secrets.set("bmc-ipmi", IPMI_PASSWORD)
    service.power.secrets.set("rack1-redfish", REDFISH_PASSWORD)
    yield service
    assert_no_secret_anywhere(service, caplog.text)


def assert_no_secret_anywhere(service: Seedbed, *texts: str) -> None:
    """No password in any event, job log, job outcome, power status or captured text."""
    events = service.store.events(None, limit=10_000)
    rows = service.store.read().execute("SELECT * FROM power_jobs").fetchall()
    status = service.store.read().execute("SELECT * FROM power_status").fetchall()
    haystacks = [repr(e) for e in events] + [repr(tuple(r)) for r in rows + status] + list(texts)
    for secret in SECRETS:
        leaks = [h[:200] for h in haystacks if secret in h]
        assert not leaks, f"a BMC password leaked into: {leaks}"


