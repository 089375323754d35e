"""Record the webhook event streams of full installer dry-runs as console fixtures.

    PYTHONPATH=tests .venv/bin/python -m installer.record_events tests/console/fixtures

Runs subiquity's dry-run (the set-up installer of this suite) against a live `seedbed
serve` on loopback, once for an install that succeeds and once for one whose
late-command fails, and writes each node's recorded `install` events (the webhook
bodies as stored, with seconds since the first one) to installer-events-<case>.json.
The progress replay tests (tests/console/test_progress_replay.py) read those files.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import requests

from seedbed.store import Store
from seedbed.tokens import new_token, token_hash
from support import BASE_INVENTORY, ServeProcess, free_port, write_inventory

from .harness import RELEASES, InstallerRunner, missing_sources, prepare_installer
from .lab import LiveLab, loopback_inventory
from .machines import WORKSTATION

RELEASE = "23.02.1"
CASES = {"success": None, "late-fail": "provision.sh"}  # case -> the command made to fail


def record(out: Path) -> None:
    why = missing_sources(RELEASES[RELEASE])
    if why:
        raise SystemExit(why)
    runner = InstallerRunner(prepare_installer(RELEASE), closed_port=free_port())
    with tempfile.TemporaryDirectory(prefix="seedbed-record-") as tmp:
        work = Path(tmp)
        port = free_port()
        data = loopback_inventory(copy.deepcopy(BASE_INVENTORY), f"http://127.0.0.1:{port}",
                                  runner.blackhole)
        node = data["nodes"][0]
        node["disk"] = {"serial": "S6PTNZ0R123456"}
        admin = new_token()
        Store(work / "state" / "seedbed.sqlite3").add_admin_token(token_hash(admin), "recorder")
        with ServeProcess(write_inventory(work / "lab.yaml", data), work / "state", port=port) as server:
            lab = LiveLab(server, admin, runner, work)
            for case, fail_command in CASES.items():
                if case != "success":  # arm it again for the next run
                    server_rearm(lab, node["hostname"])
                seen = {e["id"] for e in all_events(lab, node["hostname"])}
                _, _, run = lab.install(node["hostname"], node["macs"][0],
                                        WORKSTATION.with_macs(node["macs"]), fail_command=fail_command)
                events = [e for e in all_events(lab, node["hostname"])
                          if e["kind"] == "install" and e["id"] not in seen]
                write_fixture(out / f"installer-events-{case}.json", case, run.seconds, events)


def all_events(lab: LiveLab, hostname: str) -> list[dict[str, Any]]:
    answer = requests.get(f"{lab.server.url}/api/v1/nodes/{hostname}/events", params={"limit": 2000},
                          headers={"Authorization": f"Bearer {lab.admin_token}"}, timeout=10)
    answer.raise_for_status()
    return answer.json()["events"]


def server_rearm(lab: LiveLab, hostname: str) -> None:
    answer = requests.post(f"{lab.server.url}/api/v1/nodes/{hostname}/reinstall",
                           headers={"Authorization": f"Bearer {lab.admin_token}"}, timeout=10)
    answer.raise_for_status()


def write_fixture(path: Path, case: str, seconds: float, events: list[dict[str, Any]]) -> None:
    first = events[0]["at"] if events else 0.0
    stream = [{"offset": round(e["at"] - first, 3), **e["data"]} for e in events]
    path.write_text(json.dumps({"installer": f"subiquity {RELEASE} dry-run", "case": case,
                                "dry_run_seconds": seconds, "events": stream}, indent=1) + "\n")
    print(f"{path}: {len(stream)} events")


if __name__ == "__main__":
    record(Path(sys.argv[1]))
