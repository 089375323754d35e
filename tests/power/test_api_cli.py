"""Power through the admin API and the CLI: credentials from stdin into a 0600 file, jobs
queued over HTTP and run by the service's thread, restarts recorded truthfully, the
inventory's `power:` checked by validate, and no password in any answer or output."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seedbed.inventory import InventoryError, load_inventory
from seedbed.power import PowerControl, PowerOptions
from seedbed.service import Seedbed
from seedbed.tokens import new_token, token_hash
from seedbed.web import create_app
from support import wait_for, write_inventory

from .bmc import IpmiSim, RedfishEmulator
from .conftest import IPMI_PASSWORD, OPTIONS, SECRETS


def cli(*args: str, stdin: str = "", env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seedbed.cli", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, env=env)


def test_set_credentials_reads_stdin_into_a_private_file(power_service: Seedbed,
                                                         ipmi_sim: IpmiSim) -> None:
    where = ["--inventory", str(power_service.settings.inventory_path),
             "--state", str(power_service.settings.state_dir)]
    new_password = "rotated-" + IPMI_PASSWORD
    done = cli("power", "set-credentials", "bmc-ipmi", *where, stdin=new_password + "\n")
    assert done.returncode == 0, done.stderr
    path = power_service.power.secrets.path
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert power_service.power.secrets.get("bmc-ipmi") == new_password
    assert all(s not in done.stdout + done.stderr for s in (*SECRETS, new_password))
    # The BMC still has the old password: status says why it cannot read the state.
    done = cli("power", "status", "bmc-ipmi", *where)
    assert "power: unknown" in done.stdout and "failed" in done.stdout, done.stdout
    power_service.power.secrets.set("bmc-ipmi", IPMI_PASSWORD)
    done = cli("power", "status", "bmc-ipmi", *where)
    assert done.returncode == 0 and "power: off, read 0s ago" in done.stdout, done.stdout
    assert "can: on, off, cycle, status, pxe_once" in done.stdout, done.stdout
    os.chmod(path, 0o644)
    done = cli("power", "status", "bmc-ipmi", *where)
    assert done.returncode == 1 and "chmod 600" in done.stderr, done.stderr
    os.chmod(path, 0o600)


def test_admin_api_queues_runs_and_reports_power_jobs(power_service: Seedbed,
                                                      ipmi_sim: IpmiSim) -> None:
    token = new_token()
    power_service.store.add_admin_token(token_hash(token), "tests")
    headers = {"Authorization": f"Bearer {token}"}
    client = create_app(power_service).test_client()
    answers: list[str] = []
    power_service.power.start()
    try:
        queued = client.post("/api/v1/nodes/bmc-ipmi/power", json={"action": "reinstall"},
                             headers=headers)
        answers.append(queued.get_data(as_text=True))
        assert queued.status_code == 202, queued.json
        assert client.post("/api/v1/nodes/bmc-ipmi/power", json={"action": "on"},
                           headers=headers).status_code == 409  # one at a time per node
        job_url = f"/api/v1/power/jobs/{queued.json['job']}"
        job = wait_for("the service running the job",
                       lambda: (a := client.get(job_url, headers=headers).json)["state"]
                       in ("succeeded", "failed") and a, 60)
        answers.append(repr(job))
        assert job["state"] == "succeeded" and job["who"] == "api:tests", job
        assert "log" in job and not {"child_pid", "child_start"} & set(job), sorted(job)
        unknown = queued.json["job"] + 100
        missing = client.get(f"/api/v1/power/jobs/{unknown}", headers=headers)
        assert (missing.status_code, missing.json) == (404, {"error": f"no power job #{unknown}"})
        node = power_service.store.node("bmc-ipmi")
        assert node is not None and node.state == "armed"  # reinstall arms the node first
    finally:
        power_service.power.runner.stop()
    summary = client.get("/api/v1/nodes/bmc-ipmi/power", headers=headers)
    answers.append(summary.get_data(as_text=True))
    assert summary.json["capabilities"]["pxe_once"] is True
    assert summary.json["jobs"][0]["outcome"].startswith("Set Boot Device to pxe")
    manual = client.post("/api/v1/nodes/desk-node/power", json={"action": "reinstall"},
                         headers=headers)
    assert manual.status_code == 409 and "boot menu" in manual.json["error"], manual.json
    assert power_service.store.node("desk-node").state == "new"  # not armed by a refusal
    assert client.post("/api/v1/nodes/nosuch/power", json={"action": "on"},
                       headers=headers).status_code == 404
    assert client.post("/api/v1/nodes/bmc-ipmi/power", json={"action": "on"}).status_code == 401
    document = client.get("/api/v1/openapi.json").json
    for path in ("/api/v1/nodes/{hostname}/power", "/api/v1/power/jobs/{job_id}"):
        assert path in document["paths"], sorted(document["paths"])
    events = client.get("/api/v1/events?limit=1000", headers=headers).get_data(as_text=True)
    for text in (*answers, events):
        assert all(secret not in text for secret in SECRETS)


def test_a_job_cut_off_by_a_crash_is_recorded_as_interrupted(power_service: Seedbed) -> None:
    power = power_service.power
    job_id = power.request("bmc-ipmi", "cycle", who="tests")
    assert power.jobs.claim(job_id, "service pid 1")  # then the process died (no lock held)
    again = PowerControl(power_service.store, lambda: power_service.inventory,
                         power_service.settings.state_dir, OPTIONS)
    again.start()
    again.runner.stop()
    job = power.jobs.job(job_id)
    assert job is not None and job.state == "interrupted", job
    assert "seedbed stopped while this job was running" in (job.outcome or "")
    assert power.jobs.retried_by(job_id) is None  # a power action is not replayed blindly
    messages = [e.message for e in power_service.store.events("bmc-ipmi", limit=50)]
    assert any(f"job #{job_id}" in m and "interrupted" in m for m in messages), messages


@pytest.mark.parametrize(("power", "problem"), [
    ({"driver": "ipmi", "address": "10.0.0.9"}, "power driver ipmi needs username"),
    ({"driver": "redfish", "username": "root"}, "power driver redfish needs address"),
    ({"driver": "redfish", "address": "bmc.lab", "username": "root"}, "is not http(s)://"),
    ({"driver": "wol", "username": "root"}, "power driver wol takes no username"),
    ({"driver": "ipmi", "address": "10.0.0.9", "username": "a", "password": "x"}, "password"),
    ({"driver": "wol", "interface": "eth0; reboot"}, "not a network interface name"),
])
def test_validate_checks_each_driver_has_what_it_needs(tmp_path: Path, power: dict,
                                                       problem: str) -> None:
    from support import inventory_data

    data = inventory_data()
    data["nodes"][0]["power"] = power
    path = write_inventory(tmp_path / "lab.yaml", data)
    with pytest.raises(InventoryError) as caught:
        load_inventory(path)
    assert problem in str(caught.value)
    done = cli("validate", str(path))
    assert done.returncode == 1 and problem in done.stderr, done.stderr


def test_the_inventory_names_a_secret_never_holds_one(tmp_path: Path) -> None:
    from support import inventory_data

    data = inventory_data()
    data["nodes"][0]["power"] = {"driver": "ipmi", "address": "10.0.0.9:623", "username": "admin",
                                 "secret": "rack-a"}
    path = write_inventory(tmp_path / "lab.yaml", data)
    node = load_inventory(path).inventory.nodes[0]
    assert node.power is not None and node.power.secret_name(node.hostname) == "rack-a"


def test_reinstall_power_on_a_manual_node_says_what_to_do_and_arms_nothing(
        power_service: Seedbed) -> None:
    where = ["--inventory", str(power_service.settings.inventory_path),
             "--state", str(power_service.settings.state_dir)]
    done = cli("reinstall", "desk-node", "--power", *where)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "boot menu" in done.stderr and "under the desk in room 3" in done.stderr, done.stderr
    assert power_service.store.node("desk-node").state == "new"


def test_reinstall_power_arms_and_runs_the_job_the_bmc_sees(power_service: Seedbed,
                                                          redfish: RedfishEmulator) -> None:
    where = ["--inventory", str(power_service.settings.inventory_path),
             "--state", str(power_service.settings.state_dir)]
    done = cli("reinstall", "bmc-redfish", "--power", "--minutes", "30", *where)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "armed for reinstall until" in done.stdout and "power reinstall succeeded" in done.stdout
    assert power_service.store.node("bmc-redfish").state == "armed"
    [job] = power_service.power.jobs.recent("bmc-redfish", 5)
    assert (job.action, job.who, job.state) == ("reinstall", "cli", "succeeded")
    assert redfish.system()["boot_device"] == "Pxe"
    assert not any(secret in done.stdout + done.stderr for secret in SECRETS)


def test_the_service_polls_each_bmc_in_turn_and_keeps_the_age(power_service: Seedbed,
                                                              ipmi_sim: IpmiSim) -> None:
    polling = PowerControl(power_service.store, lambda: power_service.inventory,
                           power_service.settings.state_dir,
                           PowerOptions(poll_seconds=0.5))
    polling.poll_due()  # one BMC per turn: a dead one delays the jobs by one read at most
    first = polling.last_status("bmc-ipmi")
    assert first is not None and first["state"] == "off" and first["error"] is None
    assert polling.last_status("bmc-redfish") is None
    polling.poll_due()
    assert polling.last_status("bmc-redfish")["state"] == "off"
    assert polling.last_status("wol-node") is None  # nothing to read over Wake-on-LAN
    time.sleep(0.6)
    assert polling.last_status("bmc-ipmi")["age_seconds"] >= 0.5
    polling.poll_due()  # the oldest is due again
    assert polling.last_status("bmc-ipmi")["age_seconds"] < 0.5


def test_admin_api_accept_with_power_on_queues_the_new_nodes_job(power_service: Seedbed) -> None:
    token = new_token()
    power_service.store.add_admin_token(token_hash(token), "tests")
    headers = {"Authorization": f"Bearer {token}"}
    client = create_app(power_service).test_client()

    def accept(mac: str, hostname: str, ip: str, **extra: object) -> object:
        assert client.get(f"/ipxe?mac={mac}").status_code == 200, "stage discovery boot"
        return client.post(f"/api/v1/discovered/{mac}/accept", headers=headers,
                           json={"hostname": hostname, "ip": ip, "roles": ["worker"], **extra})

    refused = accept("52:54:00:99:00:11", "new01", "10.20.0.41", power_on=True)
    assert refused.status_code in (400, 422) and "power_on needs a power" in refused.get_data(as_text=True)
    assert power_service.inventory.node_by_hostname("new01") is None  # nothing changed
    # Queued only: the service's runner is not started, so no magic packet leaves.
    woken = accept("52:54:00:99:00:12", "new02", "10.20.0.42", power={"driver": "wol"},
                   power_on=True)
    assert woken.status_code == 201, woken.json
    [job] = power_service.power.jobs.recent("new02", 5)
    assert woken.json["power_job"] == job.id and (job.action, job.state) == ("reinstall", "queued")
    assert job.who.startswith("api:")
    manual = accept("52:54:00:99:00:13", "new03", "10.20.0.43",
                    power={"driver": "manual", "instructions": "rack 2, top"}, power_on=True)
    assert manual.status_code == 201 and manual.json["power_job"] is None
    assert "new03 has manual power control: new03 is armed: power it on" in \
        manual.json["power_problem"] and "rack 2, top" in manual.json["power_problem"]
    events = [e.message for e in power_service.store.events("new03", limit=10)]
    assert any("power on after accepting not queued" in m for m in events), events
