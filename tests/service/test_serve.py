"""The real `seedbed serve` (waitress) walking one machine through its whole install, over HTTP."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests

from support import (
    BASE_INVENTORY,
    ServeProcess,
    healthy_facts,
    inventory_data,
    seed_token,
    wait_for,
    write_inventory,
)

MAC = "52:54:00:00:00:01"
FACTS = healthy_facts(BASE_INVENTORY["nodes"][0])


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "seedbed.cli", *args], capture_output=True,
                          text=True, timeout=60)


def test_one_machine_from_pxe_to_ready(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    state = tmp_path / "state"
    with ServeProcess(inventory, state) as server:
        url = server.url
        assert requests.get(f"{url}/healthz", timeout=5).json() == {"status": "ok", "nodes": 2}
        chain = requests.get(f"{url}/boot.ipxe", timeout=5).text
        assert "/ipxe?mac=${netX/mac:hexhyp}" in chain

        script = requests.get(f"{url}/ipxe", params={"mac": MAC.replace(":", "-")}, timeout=5).text
        assert "autoinstall ds=nocloud-net;s=http://10.20.0.5:8080/seed/" in script
        token = seed_token(script)

        for name in ("meta-data", "user-data", "vendor-data"):
            assert requests.get(f"{url}/seed/{token}/{name}", timeout=5).status_code == 200
        event = {"name": "subiquity/Install", "event_type": "start", "origin": "curtin"}
        assert requests.post(f"{url}/api/v1/report/{token}", json=event, timeout=5).ok
        assert requests.post(f"{url}/api/v1/callback/{token}/installed", timeout=5).ok

        again = requests.get(f"{url}/ipxe", params={"mac": MAC}, timeout=5).text
        assert "kernel" not in again and "local disk" in again

        ready = requests.post(f"{url}/api/v1/callback/{token}/ready", json=FACTS, timeout=5)
        assert ready.json() == {"status": "ready", "problems": []}

        # The CLI reads the same state while the service runs.
        nodes = cli("nodes", "--inventory", str(inventory), "--state", str(state))
        assert nodes.returncode == 0
        line = next(ln for ln in nodes.stdout.splitlines() if ln.startswith("gpu01"))
        assert MAC in line and " ready " in line
        events = cli("events", "gpu01", "--inventory", str(inventory), "--state", str(state)).stdout
        for expected in ("install #1 started", "seed user-data fetched", "start subiquity/Install",
                         "installed after", "local disk", "ready"):
            assert expected in events, events

        token_out = cli("token", "create", "--inventory", str(inventory), "--state", str(state))
        admin = {"Authorization": f"Bearer {token_out.stdout.strip()}"}
        listed = requests.get(f"{url}/api/v1/nodes", headers=admin, timeout=5).json()["nodes"]
        assert [n["state"] for n in listed] == ["ready", "new"]

        reinstall = cli("reinstall", "gpu01", "--inventory", str(inventory), "--state", str(state))
        assert reinstall.returncode == 0 and "armed for reinstall" in reinstall.stdout
        assert "autoinstall" in requests.get(f"{url}/ipxe", params={"mac": MAC}, timeout=5).text
    assert token not in server.log(), "a token reached the service's log"
    assert "seedbed.http: 127.0.0.1 GET /ipxe 200 " in server.log(), "no access log line"


def test_serve_refuses_a_bad_inventory(tmp_path: Path) -> None:
    data = inventory_data()
    data["nodes"][0]["roles"] = ["boss"]
    inventory = write_inventory(tmp_path / "bad.yaml", data)
    result = cli("serve", "--inventory", str(inventory), "--state", str(tmp_path / "s"), "--port", "1")
    assert result.returncode == 1
    assert "nodes[0].roles[0]: 'boss' is not allowed" in result.stderr
    assert not (tmp_path / "s").exists()


def test_plaintext_password_is_never_stored_or_served(tmp_path: Path) -> None:
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    state = tmp_path / "state"
    with ServeProcess(inventory, state) as server:
        token = seed_token(requests.get(f"{server.url}/ipxe", params={"mac": MAC}, timeout=5).text)
        user_data = requests.get(f"{server.url}/seed/{token}/user-data", timeout=5).text
        assert "s3cret-admin-pw" not in user_data and "$6$" in user_data
    for path in state.rglob("*"):
        if path.is_file():
            assert b"s3cret-admin-pw" not in path.read_bytes(), path
    assert "s3cret-admin-pw" not in server.log()


def test_user_data_is_rendered_ahead_at_start_and_for_each_inventory_taken(tmp_path: Path) -> None:
    data = inventory_data()
    inventory = write_inventory(tmp_path / "lab.yaml", data)
    with ServeProcess(inventory, tmp_path / "state") as server:
        wait_for("the start's rendering", lambda: "user-data of 2 of 2 nodes rendered ahead" in server.log())
        data["nodes"].append({**data["nodes"][1], "hostname": "gpu03", "macs": ["52:54:00:00:00:09"],
                              "ip": "10.20.0.33"})
        write_inventory(inventory, data)
        wait_for("the edited inventory's rendering",
                 lambda: "user-data of 3 of 3 nodes rendered ahead" in server.log(), timeout=30)
        script = requests.get(f"{server.url}/ipxe", params={"mac": "52:54:00:00:00:09"}, timeout=5).text
        user_data = requests.get(f"{server.url}/seed/{seed_token(script)}/user-data", timeout=5)
        assert user_data.status_code == 200 and "hostname: gpu03" in user_data.text
