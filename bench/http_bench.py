"""Many simulated machines at once against a real `seedbed serve`: requests/s and latency.

Each machine walks the whole protocol: chain script, per-machine script, the
three seed files, progress events, installed, the local-disk script, ready.
Between rounds every node is re-armed through the admin API. Only loopback.
"""

from __future__ import annotations

import argparse
import http.client
import json as json_module
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from seedbed.httpserver import ServerLimits  # noqa: E402
from support import ADMIN_KEY, ServeProcess, healthy_facts, seed_token  # noqa: E402

FACTS = healthy_facts({"hostname": "", "gpus": 1})


def inventory(machines: int) -> dict:
    nodes = [{"hostname": f"node{i:03d}", "macs": [f"52:54:00:10:{i // 256:02x}:{i % 256:02x}"],
              "ip": f"10.30.{1 + i // 250}.{1 + i % 250}", "gpus": 1,
              "roles": ["controlplane", "etcd", "worker"] if i < 3 else ["worker"]}
             for i in range(machines)]
    return {"site": {"domain": "bench.test", "subnet": "10.30.0.0/16", "gateway": "10.30.0.254",
                     "dns": ["10.30.0.254"], "base_url": "http://127.0.0.1:1"},
            "admin": {"username": "labadmin", "password_hash": "$6$salt$" + "x" * 86,
                      "ssh_keys": [ADMIN_KEY]},
            "installer": {"kernel": "k", "initrd": "i", "iso": "http://127.0.0.1/focal.iso"},
            "nodes": nodes}


class Connection:
    """One machine's keep-alive HTTP connection. http.client, not requests: with fifty
    client threads on the cores the server uses, requests' own per-call work showed up
    in the latencies measured as much as the server's."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)

    def request(self, method: str, url: str, params: dict | None = None,
                json: object = None) -> tuple[int, str]:
        path = urlsplit(url).path + (f"?{urlencode(params)}" if params else "")
        body, headers = None, {}
        if json is not None:
            body, headers = json_module.dumps(json).encode(), {"Content-Type": "application/json"}
        self.conn.request(method, path, body=body, headers=headers)
        response = self.conn.getresponse()
        return response.status, response.read().decode()


class Recorder:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)
        self.lock = threading.Lock()

    def call(self, session: Connection, name: str, method: str, url: str, **kw: object) -> str:
        start = time.perf_counter()
        status, text = session.request(method, url, **kw)
        took = time.perf_counter() - start
        with self.lock:
            self.samples[name].append(took)
            if not 200 <= status < 400:
                self.errors[name] += 1
        return text


def machine(base: str, node: dict, rec: Recorder, ramp: float, think: float) -> None:
    """One machine's install; `think` stands for its own work between requests (a real
    machine spends seconds downloading and booting; this is far shorter)."""
    mac = node["macs"][0]
    session = Connection(base)
    pause = (lambda: time.sleep(random.uniform(0, 2 * think))) if think else (lambda: None)
    time.sleep(random.uniform(0, ramp))
    rec.call(session, "GET /boot.ipxe", "GET", f"{base}/boot.ipxe")
    pause()
    script = rec.call(session, "GET /ipxe (install)", "GET", f"{base}/ipxe", params={"mac": mac})
    token = seed_token(script)
    for name in ("meta-data", "user-data", "vendor-data"):
        pause()
        rec.call(session, f"GET /seed/{name}", "GET", f"{base}/seed/{token}/{name}")
    for step in ("start", "finish"):
        pause()
        rec.call(session, "POST /report", "POST", f"{base}/api/v1/report/{token}",
                 json={"name": "subiquity/Install", "event_type": step})
    pause()
    rec.call(session, "POST /callback/installed", "POST", f"{base}/api/v1/callback/{token}/installed")
    pause()
    rec.call(session, "GET /ipxe (local)", "GET", f"{base}/ipxe", params={"mac": mac})
    pause()
    rec.call(session, "POST /callback/ready", "POST", f"{base}/api/v1/callback/{token}/ready",
             json={**FACTS, "hostname": node["hostname"]})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--machines", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=ServerLimits().threads,
                        help="waitress worker threads")
    parser.add_argument("--ramp", type=float, default=1.0,
                        help="machines power on at random within this many seconds (0: all at once)")
    parser.add_argument("--think", type=float, default=0.05,
                        help="mean seconds a machine spends between its requests (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = inventory(args.machines)
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(data))
        server = ServeProcess(path, Path(tmp) / "state", extra_args=["--threads", str(args.threads)])
        data["site"]["base_url"] = f"http://127.0.0.1:{server.port}"
        path.write_text(yaml.safe_dump(data))
        with server:
            token = subprocess.run([sys.executable, "-m", "seedbed.cli", "token", "create",
                                    "--inventory", str(path), "--state", str(server.state)],
                                   capture_output=True, text=True, check=True).stdout.strip()
            admin = {"Authorization": f"Bearer {token}"}
            rec = Recorder()
            started = time.perf_counter()
            for _ in range(args.rounds):
                threads = [threading.Thread(target=machine,
                                            args=(server.url, n, rec, args.ramp, args.think))
                           for n in data["nodes"]]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(timeout=120)
                for n in data["nodes"]:
                    requests.post(f"{server.url}/api/v1/nodes/{n['hostname']}/reinstall",
                                  headers=admin, timeout=30).raise_for_status()
            elapsed = time.perf_counter() - started
    total = sum(len(v) for v in rec.samples.values())
    print(f"seedbed HTTP benchmark: {args.machines} machines at once (power-on spread over "
          f"{args.ramp}s, {args.think * 1000:.0f} ms mean between a machine's requests), "
          f"{args.rounds} rounds, {args.threads} server threads, {total} requests in {elapsed:.1f}s "
          f"({total / elapsed:.0f} req/s overall, client and server sharing the cores)")
    print(f"{'endpoint':<26}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
    for name, values in rec.samples.items():
        print(f"{name:<26}{len(values):>9}{len(values) / elapsed:>8.0f}"
              f"{statistics.median(values) * 1000:>9.1f}{percentile(values, 0.99) * 1000:>9.1f}"
              f"{max(values) * 1000:>9.1f}{rec.errors[name]:>8}")
    return 1 if any(rec.errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
