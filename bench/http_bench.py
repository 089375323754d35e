"""Many simulated machines at once against a real `seedbed serve`: requests/s and latency.

Each machine walks the whole protocol: chain script, per-machine script, the
three seed files, progress events, installed, the local-disk script, ready.
Between rounds every node is re-armed through the admin API. Only loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json as json_module
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
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
    """One machine's keep-alive HTTP/1.1 connection on asyncio streams. One client thread
    runs every machine: with fifty client threads (http.client) on the cores the server
    uses, their fight over the client's own GIL showed up in the latencies measured, and
    before that requests' per-call work did."""

    def __init__(self, base: str):
        parts = urlsplit(base)
        self.host, self.port = parts.hostname, parts.port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, url: str, params: dict | None = None,
                      json: object = None) -> tuple[int, str]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        path = urlsplit(url).path + (f"?{urlencode(params)}" if params else "")
        body = json_module.dumps(json).encode() if json is not None else b""
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
        if json is not None:
            head += "Content-Type: application/json\r\n"
        self.writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
        status = int((await self.reader.readline()).split()[1])
        length = None
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            if name.lower() == "content-length":
                length = int(value)
        if length is None:
            raise RuntimeError(f"{method} {path}: answer without Content-Length")
        return status, (await self.reader.readexactly(length)).decode()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Recorder:
    def __init__(self) -> None:
        self.samples: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, int] = defaultdict(int)

    async def call(self, session: Connection, name: str, method: str, url: str,
                   **kw: object) -> str:
        start = time.perf_counter()
        status, text = await session.request(method, url, **kw)
        self.samples[name].append(time.perf_counter() - start)
        if not 200 <= status < 400:
            self.errors[name] += 1
        return text


async def machine(base: str, node: dict, rec: Recorder, ramp: float, think: float) -> None:
    """One machine's install; `think` stands for its own work between requests (a real
    machine spends seconds downloading and booting; this is far shorter)."""
    mac = node["macs"][0]
    session = Connection(base)

    async def pause() -> None:
        if think:
            await asyncio.sleep(random.uniform(0, 2 * think))

    await asyncio.sleep(random.uniform(0, ramp))
    try:
        await rec.call(session, "GET /boot.ipxe", "GET", f"{base}/boot.ipxe")
        await pause()
        script = await rec.call(session, "GET /ipxe (install)", "GET", f"{base}/ipxe",
                                params={"mac": mac})
        token = seed_token(script)
        for name in ("meta-data", "user-data", "vendor-data"):
            await pause()
            await rec.call(session, f"GET /seed/{name}", "GET", f"{base}/seed/{token}/{name}")
        for step in ("start", "finish"):
            await pause()
            await rec.call(session, "POST /report", "POST", f"{base}/api/v1/report/{token}",
                           json={"name": "subiquity/Install", "event_type": step})
        await pause()
        await rec.call(session, "POST /callback/installed", "POST",
                       f"{base}/api/v1/callback/{token}/installed")
        await pause()
        await rec.call(session, "GET /ipxe (local)", "GET", f"{base}/ipxe", params={"mac": mac})
        await pause()
        await rec.call(session, "POST /callback/ready", "POST",
                       f"{base}/api/v1/callback/{token}/ready",
                       json={**FACTS, "hostname": node["hostname"]})
    finally:
        session.close()


async def burst(base: str, nodes: list[dict], rec: Recorder, ramp: float, think: float) -> None:
    """Every machine at once; bounded, so a stuck server ends the run with a clear error."""
    try:
        await asyncio.wait_for(asyncio.gather(*(machine(base, n, rec, ramp, think) for n in nodes)),
                               timeout=120)
    except TimeoutError:
        raise SystemExit("http_bench: a round did not finish within 120 s") from None


@contextmanager
def collector_paused() -> Iterator[None]:
    """This client's own garbage collector off during a round, as timeit does: one full
    collection in a round stalled every machine's request for 40 ms, counted as the server's."""
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.collect()


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live children (nginx's workers)."""
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields_ = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields_[1] == str(pid):
            total += (int(fields_[11]) + int(fields_[12])) / _TICK
    return total


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
    parser.add_argument("--cpu", default="auto", help="seedbed serve --cpu (auto, any, a CPU)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = inventory(args.machines)
        path = Path(tmp) / "bench.yaml"
        path.write_text(yaml.safe_dump(data))
        server = ServeProcess(path, Path(tmp) / "state",
                              extra_args=["--threads", str(args.threads), "--cpu", args.cpu])
        data["site"]["base_url"] = f"http://127.0.0.1:{server.port}"
        path.write_text(yaml.safe_dump(data))
        with server:
            token = subprocess.run([sys.executable, "-m", "seedbed.cli", "token", "create",
                                    "--inventory", str(path), "--state", str(server.state)],
                                   capture_output=True, text=True, check=True).stdout.strip()
            admin = {"Authorization": f"Bearer {token}"}
            rec = Recorder()
            started, server_cpu = time.perf_counter(), 0.0
            assert server.proc is not None
            for _ in range(args.rounds):
                before = cpu_seconds(server.proc.pid)
                with collector_paused():
                    asyncio.run(burst(server.url, data["nodes"], rec, args.ramp, args.think))
                server_cpu += cpu_seconds(server.proc.pid) - before
                for n in data["nodes"]:
                    requests.post(f"{server.url}/api/v1/nodes/{n['hostname']}/reinstall",
                                  headers=admin, timeout=30).raise_for_status()
            elapsed = time.perf_counter() - started
    total = sum(len(v) for v in rec.samples.values())
    print(f"seedbed HTTP benchmark: {args.machines} machines at once (power-on spread over "
          f"{args.ramp}s, {args.think * 1000:.0f} ms mean between a machine's requests), "
          f"{args.rounds} rounds, {args.threads} server threads, --cpu {args.cpu}, {total} requests "
          f"in {elapsed:.1f}s ({total / elapsed:.0f} req/s overall, one asyncio client thread and "
          f"the server sharing the cores); server CPU in the rounds "
          f"{server_cpu / total * 1e6:.0f} us per request")
    print(f"{'endpoint':<26}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}")
    for name, values in rec.samples.items():
        print(f"{name:<26}{len(values):>9}{len(values) / elapsed:>8.0f}"
              f"{statistics.median(values) * 1000:>9.1f}{percentile(values, 0.99) * 1000:>9.1f}"
              f"{max(values) * 1000:>9.1f}{rec.errors[name]:>8}")
    return 1 if any(rec.errors.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
