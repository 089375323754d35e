"""Power jobs against real BMC simulators: ipmi_sim over lanplus, sushy-tools' Redfish
emulator, failures (wrong password, a BMC that does not answer), the manual driver."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seedbed.inventory import InventoryError
from seedbed.power import PowerUnavailable
from seedbed.service import Seedbed, Settings
from support import inventory_of, make_certs, wait_for, write_inventory

from .bmc import IpmiSim, RedfishEmulator
from .conftest import OPTIONS, REDFISH_PASSWORD, assert_no_secret_anywhere, power_inventory

RUN_TIMEOUT = 60


def run(service: Seedbed, hostname: str, action: str):  # noqa: ANN201
    job_id = service.power.request(hostname, action, who="tests")
    return service.power.run_until_done(job_id, RUN_TIMEOUT)


def node_state(service: Seedbed, hostname: str) -> tuple[str, float | None]:
    row = service.store.node(hostname)
    assert row is not None
    return row.state, row.armed_until


def test_ipmi_on_status_pxe_once_cycle_off(power_service: Seedbed, ipmi_sim: IpmiSim) -> None:
    power = power_service.power
    assert power.read_status("bmc-ipmi")["state"] == "off"
    job = run(power_service, "bmc-ipmi", "on")
    assert job.state == "succeeded", job.outcome
    assert power.read_status("bmc-ipmi")["state"] == "on"
    job = run(power_service, "bmc-ipmi", "reinstall")
    assert job.state == "succeeded", job.outcome
    hook = ipmi_sim.hook_log()
    assert "set boot pxe" in hook, hook  # the BMC got the one-time boot device ...
    assert hook.index("set boot pxe") < hook.rindex("set power 0"), hook  # ... before the cycle
    wait_for("ipmi_sim powering the chassis back on after the cycle",
             lambda: "set power 1" in ipmi_sim.hook_log().split("set boot pxe")[1], 10)
    assert run(power_service, "bmc-ipmi", "off").state == "succeeded"
    assert power.read_status("bmc-ipmi")["state"] == "off"
    events = [e.message for e in power_service.store.events("bmc-ipmi", limit=100)]
    assert any("power reinstall by tests succeeded" in m for m in events), events


def test_redfish_power_and_one_time_pxe_seen_by_the_emulator(power_service: Seedbed,
                                                             redfish: RedfishEmulator) -> None:
    assert run(power_service, "bmc-redfish", "on").state == "succeeded"
    # The fake driver applies a power change 1-11 s later, as real BMCs take a while.
    wait_for("emulator powering on", lambda: redfish.system()["power_state"] == "On", 20)
    assert power_service.power.read_status("bmc-redfish")["state"] == "on"
    job = run(power_service, "bmc-redfish", "reinstall")
    assert job.state == "succeeded", job.outcome
    patches = [r["body"] for r in redfish.requests if r["method"] == "PATCH"]
    assert {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once"}.items() <= \
        patches[-1]["Boot"].items(), patches
    resets = [r["body"]["ResetType"] for r in redfish.requests if r["path"].endswith(".Reset")]
    assert resets == ["On", "ForceRestart"], resets
    assert redfish.system()["boot_device"] == "Pxe"
    wait_for("emulator restarting", lambda: redfish.system()["power_state"] == "On", 20)
    assert run(power_service, "bmc-redfish", "off").state == "succeeded"
    wait_for("emulator powering off", lambda: redfish.system()["power_state"] == "Off", 20)


def test_wrong_password_fails_once_without_retry_or_leak(power_service: Seedbed,
                                                         redfish: RedfishEmulator,
                                                         ipmi_sim: IpmiSim) -> None:
    before = {h: node_state(power_service, h) for h in ("bmc-ipmi", "bmc-redfish")}
    power_service.power.secrets.set("rack1-redfish", "not-the-password")
    job = run(power_service, "bmc-redfish", "cycle")
    assert job.state == "failed" and "login refused" in (job.outcome or ""), job.outcome
    assert job.attempt == 1 and power_service.power.jobs.retried_by(job.id) is None
    power_service.power.secrets.set("bmc-ipmi", "not-the-password")
    job = run(power_service, "bmc-ipmi", "on")
    assert job.state == "failed" and "login refused" in (job.outcome or ""), job.outcome
    assert job.attempt == 1 and power_service.power.jobs.retried_by(job.id) is None
    assert "set power" not in ipmi_sim.hook_log()  # the chassis was never touched
    assert {h: node_state(power_service, h) for h in before} == before


def test_unanswering_bmc_is_retried_with_back_off_then_fails(power_service: Seedbed,
                                                             ipmi_sim: IpmiSim) -> None:
    ipmi_sim.stop()  # nothing listens on its port now
    job = run(power_service, "bmc-ipmi", "on")
    first = power_service.power.jobs.job(job.retry_of or 0)
    assert first is not None and first.state == "failed", "no retry was made"
    assert "retrying in" in (first.outcome or "")
    assert job.state == "failed" and job.attempt == 2 and "(attempt 2 of 2)" in (job.outcome or "")
    assert "Get Channel Authentication Capabilities" in (job.outcome or ""), job.outcome  # why
    assert (job.started_at or 0) - (first.finished_at or 0) >= 0.2  # the back-off was waited
    status = power_service.power.read_status("bmc-ipmi")
    assert status["state"] == "unknown" and status["error"], status


def test_one_job_at_a_time_per_node_and_manual_says_what_to_do(power_service: Seedbed) -> None:
    power = power_service.power
    first = power.request("bmc-ipmi", "on", who="tests")
    try:
        power.request("bmc-ipmi", "off", who="tests")
        raise AssertionError("a second job was queued while the first one waits")
    except PowerUnavailable as exc:
        assert f"#{first}" in str(exc)
    power.run_until_done(first, RUN_TIMEOUT)
    try:
        power.request("desk-node", "reinstall", who="tests")
        raise AssertionError("the manual driver queued a job")
    except PowerUnavailable as exc:
        assert "boot menu" in str(exc) and "under the desk" in str(exc)
    try:
        power.request("wol-node", "off", who="tests")
        raise AssertionError("wol powered off")
    except PowerUnavailable as exc:
        assert "cannot off" in str(exc)


def test_redfish_over_https_checks_the_bmc_certificate(tmp_path: Path, ipmi_sim: IpmiSim,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    """A BMC's certificate is not from a system CA: refused, said as such and not retried,
    until the node names its CA (ca_file); verify_tls: false skips the check."""
    certs = tmp_path / "certs"
    certs.mkdir()
    make_certs(certs)
    bmc = RedfishEmulator(tmp_path / "redfish", "root", REDFISH_PASSWORD,
                          tls=(certs / "server.pem", certs / "server.key")).start()
    data = power_inventory(ipmi_sim.address, bmc.url)
    path = write_inventory(tmp_path / "lab.yaml", data)
    service = Seedbed(Settings(path, tmp_path / "state", reload_seconds=0, power=OPTIONS))
    service.power.secrets.set("rack1-redfish", REDFISH_PASSWORD)

    def with_power(**fields: Any) -> None:
        data["nodes"][1]["power"] = {**data["nodes"][1]["power"], **fields}
        write_inventory(path, data)
        assert service.refresh(), "the edited inventory was not taken"

    try:
        job = run(service, "bmc-redfish", "on")
        assert job.state == "failed" and job.attempt == 1, job
        assert "TLS certificate was refused (certificate verify failed: unable to get local issuer " \
               "certificate): give its CA's (or its own) certificate as power.ca_file" in job.outcome
        assert service.power.jobs.retried_by(job.id) is None  # the admin's to fix, not time's
        assert bmc.requests == [] and bmc.system()["power_state"] == "Off"

        with_power(ca_file=str(certs / "missing.pem"))
        job = run(service, "bmc-redfish", "on")
        assert job.state == "failed" and f"ca_file {certs}/missing.pem cannot be read" in job.outcome

        with_power(ca_file=str(certs / "ca.pem"))
        job = run(service, "bmc-redfish", "on")
        assert job.state == "succeeded", job.outcome
        wait_for("emulator powering on", lambda: bmc.system()["power_state"] == "On", 20)

        del data["nodes"][1]["power"]["ca_file"]
        with_power(verify_tls=False)
        assert run(service, "bmc-redfish", "off").state == "succeeded"
        wait_for("emulator powering off", lambda: bmc.system()["power_state"] == "Off", 20)
    finally:
        service.power.runner.stop()
        bmc.stop()
    assert_no_secret_anywhere(service, caplog.text)


@pytest.mark.parametrize(("fields", "error"), [
    ({"ca_file": "certs/ca.pem"}, "ca_file 'certs/ca.pem' is not an absolute path"),
    ({"ca_file": "/etc/bmc/ca.pem", "verify_tls": False}, "give one or the other"),
    ({"ca_file": "/etc/bmc/ca.pem", "address": "http://bmc.lab"}, "needs an https:// address"),
])
def test_redfish_ca_file_is_an_absolute_path_and_not_beside_verify_off(
        fields: dict[str, Any], error: str) -> None:
    data = power_inventory("127.0.0.1:623", "https://bmc.lab:443")
    data["nodes"][1]["power"].update(fields)
    with pytest.raises(InventoryError, match=error):
        inventory_of(data)
