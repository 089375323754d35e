"""Fixtures for the cluster tests: fake rke/helm/kubectl, a lab inventory, nodes made ready."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from seedbed.store import Store
from seedbed.tokens import new_token, token_hash
from support import ADMIN_KEY, ServeProcess, Started, healthy_facts, seed_token, wait_for

from . import fake_tool

VENV_BIN = Path(sys.executable).parent
OFF_HOST = "dns,nfs,ssh"  # preflight checks that reach other hosts
SEEDBED = VENV_BIN / "seedbed"

NODES = [
    {"hostname": "gpu01", "macs": ["52:54:00:00:10:01"], "ip": "10.20.0.21",
     "roles": ["controlplane", "etcd", "worker"], "gpus": 2, "labels": {"lab/rack": "a"}},
    {"hostname": "cpu02", "macs": ["52:54:00:00:10:02"], "ip": "10.20.0.22",
     "roles": ["controlplane", "etcd", "worker"]},
    {"hostname": "cpu03", "macs": ["52:54:00:00:10:03"], "ip": "10.20.0.23",
     "roles": ["controlplane", "etcd", "worker"]},
    {"hostname": "gpu04", "macs": ["52:54:00:00:10:04"], "ip": "10.20.0.24",
     "roles": ["worker"], "gpus": 1},
]

CLUSTER = {
    "load_balancer": "10.20.0.240-10.20.0.250",
    "rancher": {"hostname": "ranch.lab.test"},
    "nfs": {"server": "10.20.0.5", "path": "/volume1/k8s"},
}


def lab_inventory(nodes: list[dict[str, Any]] | None = None, **cluster: Any) -> dict[str, Any]:
    from support import inventory_data

    section = copy.deepcopy(CLUSTER)
    section.update(cluster)
    return inventory_data(nodes=copy.deepcopy(nodes or NODES), cluster=section)


@dataclass
class Fakes:
    bin: Path
    dir: Path

    def calls(self, tool: str | None = None, queries: bool = False) -> list[dict[str, Any]]:
        return fake_tool.calls(self.dir, tool, queries)

    def control(self, **tools: dict[str, Any]) -> None:
        fake_tool.set_control(self.dir, **tools)

    def env(self) -> dict[str, str]:
        # Preflight's network checks would send packets to the lab's addresses: only the
        # tests that build those hosts in a network namespace run them.
        return {"PATH": f"{self.bin}:{VENV_BIN}:/usr/local/bin:/usr/bin:/bin",
                "SEEDBED_FAKE_DIR": str(self.dir), "SEEDBED_CLUSTER_PREFLIGHT_SKIP": OFF_HOST}


@pytest.fixture
def fakes(tmp_path: Path) -> Fakes:
    found = Fakes(tmp_path / "fakebin", tmp_path / "fake")
    fake_tool.install(found.bin)
    found.dir.mkdir()
    return found


@dataclass
class Served:
    """`seedbed serve` as a real subprocess on a free port, PATH pointing at the fakes."""

    inventory: Path
    state: Path
    fakes: Fakes
    env_extra: dict[str, str] = field(default_factory=dict)
    server: ServeProcess | None = None
    port: int = 0
    token: str = ""

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if not self.token:
            self.token = new_token()
            Store(self.state / "seedbed.sqlite3").add_admin_token(token_hash(self.token), "tests")
        env = {**self.fakes.env(), "SEEDBED_CLUSTER_BACKOFF_SECONDS": "0.1",
               "SEEDBED_CLUSTER_POLL_SECONDS": "0.05", "SEEDBED_CLUSTER_WEBHOOK_TIMEOUT": "10",
               "SEEDBED_CLUSTER_READY_SETTLE_SECONDS": "0.2", **self.env_extra}
        self.server = ServeProcess(self.inventory, self.state, extra_args=["--threads", "4"],
                                   env=env).start()
        self.port = self.server.port

    def kill(self) -> None:
        assert self.server is not None
        self.server.stop(signal.SIGKILL)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    # -- HTTP -------------------------------------------------------------------

    def admin(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return requests.request(method, f"{self.base}{path}", headers=headers, timeout=10,
                                **kwargs)

    def status(self) -> dict[str, Any]:
        response = self.admin("GET", "/api/v1/cluster")
        assert response.status_code == 200, response.text
        return response.json()

    def jobs(self) -> list[dict[str, Any]]:
        return sorted(self.status()["jobs"], key=lambda j: j["id"])

    def job(self, job_id: int) -> dict[str, Any]:
        response = self.admin("GET", f"/api/v1/cluster/jobs/{job_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def wait_job(self, job_id: int, states: tuple[str, ...] = ("succeeded",),
                 timeout: float = 30.0) -> dict[str, Any]:
        def probe() -> dict[str, Any] | None:
            found = [j for j in self.jobs() if j["id"] == job_id]
            return found[0] if found and found[0]["state"] in states else None
        return wait_for(f"cluster job #{job_id} to be {'/'.join(states)}", probe, timeout)

    def queued_job(self, after: int = 0) -> int:
        """The id of the first job after `after`: a ready report queues it from the worker thread."""
        return wait_for(f"a cluster job after #{after} to be queued",
                        lambda: min((j["id"] for j in self.jobs() if j["id"] > after), default=0))

    def make_ready(self, node: dict[str, Any], facts: dict[str, Any] | None = None) -> dict:
        """Netboot, fetch the seed, call back installed and ready, as a real install does."""
        script = requests.get(f"{self.base}/ipxe", params={"mac": node["macs"][0]}, timeout=10)
        assert script.ok, script.text
        token = seed_token(script.text)
        user_data = requests.get(f"{self.base}/seed/{token}/user-data", timeout=10)
        assert user_data.ok, user_data.text
        for outcome in ("installed", "ready"):
            body = (facts or healthy_facts(node)) if outcome == "ready" else None
            response = requests.post(f"{self.base}/api/v1/callback/{token}/{outcome}",
                                     json=body, timeout=30)
            assert response.ok, f"{outcome} callback of {node['hostname']}: {response.text}"
        return {"user_data": user_data.text, "ready": response.json()}


@pytest.fixture
def serve(tmp_path: Path, fakes: Fakes) -> Iterator[Callable[..., Served]]:
    started = Started()

    def make(data: dict[str, Any], **env: str) -> Served:
        inventory = tmp_path / "lab.yaml"
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        state = tmp_path / "state"
        state.mkdir(exist_ok=True)
        return started.add(Served(inventory, state, fakes, dict(env)))

    yield make
    started.stop_all()
    for call in fakes.calls():  # a fake left hanging by a failed test
        if call.get("outcome") == "hang":
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(call["pid"], signal.SIGKILL)


def cluster_yml(call: dict[str, Any]) -> dict[str, Any]:
    """The cluster.yml a fake rke call was given."""
    (text,) = call["files"].values()
    return yaml.safe_load(text)


def helm_values(call: dict[str, Any]) -> dict[str, Any]:
    (text,) = call["files"].values()
    return yaml.safe_load(text)


def admin_key_line() -> str:
    return ADMIN_KEY


def dump(value: Any) -> str:
    return json.dumps(value, indent=2, default=str)


@dataclass
class InProcess:
    """A Seedbed in this process: nodes made ready through the Flask test client, jobs run by tick()."""

    service: Any
    client: Any

    def ready(self, node: dict[str, Any], facts: dict[str, Any] | None = None,
              reconcile: bool = True) -> None:
        script = self.client.get(f"/ipxe?mac={node['macs'][0]}")
        token = seed_token(script.text)
        assert self.client.post(f"/api/v1/callback/{token}/installed").status_code == 200
        response = self.client.post(f"/api/v1/callback/{token}/ready",
                                    json=facts or healthy_facts(node))
        assert response.status_code == 200, response.text
        if reconcile:  # the worker thread's step, without the thread
            self.service.cluster.reconcile_reported()

    def run_jobs(self, limit: int = 20) -> list[Any]:
        """Run queued jobs (the worker thread's loop, without the thread); return all jobs."""
        jobs = self.service.cluster.jobs
        for _ in range(limit):
            if jobs.next_queued() is None:
                break
            self.service.cluster.runner.tick()
        assert jobs.next_queued() is None, "jobs still queued after the limit"
        return list(reversed(jobs.recent(50)))


@pytest.fixture
def in_process(tmp_path: Path, fakes: Fakes, monkeypatch: pytest.MonkeyPatch
               ) -> Callable[..., InProcess]:
    from seedbed.cluster import ClusterOptions
    from seedbed.cluster.sshkey import ensure_service_key
    from seedbed.service import Seedbed, Settings
    from seedbed.web import create_app

    for name, value in fakes.env().items():
        monkeypatch.setenv(name, value)

    def make(data: dict[str, Any], **options: Any) -> InProcess:
        inventory = tmp_path / "lab.yaml"
        inventory.write_text(yaml.safe_dump(data, sort_keys=False))
        settings = Settings(inventory, tmp_path / "state", reload_seconds=0,
                            cluster=ClusterOptions(**{"backoff_seconds": 0.0, "poll_seconds": 0.01,
                                                      "webhook_timeout": 5.0,
                                                      "preflight_skip": OFF_HOST,
                                                      "ready_settle_seconds": 0.0, **options}))
        service = Seedbed(settings)
        ensure_service_key(settings.state_dir)
        return InProcess(service, create_app(service).test_client())

    return make
