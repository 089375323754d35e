"""seedbed's machine-facing endpoints under wrk, side by side with nginx and a bare Flask route.

In one run, on loopback only: nginx (static file), a bare Flask route on seedbed's own server
(bench/bare_flask.py) and seedbed itself all answer; the /boot.ipxe figures are the same bytes
from all three. Every round runs each target once for --seconds, the order reversed every other
round (A/B alternated), so a noisy neighbour on the shared cores hits all of them alike. The
medians over the rounds are printed with the ratios the service is held to (issue 10).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from http_bench import cpu_seconds, inventory  # noqa: E402

from support import ServeProcess, free_port, seed_token  # noqa: E402

UNKNOWN_MAC = "52:54:00:99:99:99"
NGINX_CONF = """\
daemon off;
worker_processes 2;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    default_type text/plain;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
    }}
}}
"""


@dataclass
class Target:
    name: str
    url: str
    pid: int  # the server process whose CPU time (with its children's) is counted
    rates: list[float] = field(default_factory=list)
    p99s: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)  # server CPU per request
    errors: int = 0

    @property
    def rate(self) -> float:
        return statistics.median(self.rates)

    @property
    def p99(self) -> float:
        return statistics.median(self.p99s)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpu_us)


def wait_healthy(url: str, proc: subprocess.Popen, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{what} exited with {proc.returncode}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise SystemExit(f"{what} did not answer {url} within {timeout}s")


def start_nginx(tmp: Path, body: bytes) -> tuple[subprocess.Popen, str]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    (tmp / "www").mkdir()
    (tmp / "www" / "boot.ipxe").write_bytes(body)
    os.chmod(tmp, 0o755)  # noqa: S103 - nginx workers run as an unprivileged user when started as root
    port = free_port()
    (tmp / "nginx.conf").write_text(NGINX_CONF.format(tmp=tmp, port=port))
    proc = subprocess.Popen([nginx, "-c", str(tmp / "nginx.conf"), "-p", str(tmp)],
                            stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/boot.ipxe"
    wait_healthy(url, proc, "nginx")
    return proc, url


def start_bare_flask(tmp: Path, body: bytes) -> tuple[subprocess.Popen, str]:
    (tmp / "bare.body").write_bytes(body)
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("bare_flask.py")),
                             str(tmp / "bare.body"), str(port)], stderr=subprocess.DEVNULL)
    wait_healthy(f"http://127.0.0.1:{port}/healthz", proc, "bare Flask")
    return proc, f"http://127.0.0.1:{port}/bare"


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, seconds: int, connections: int,
            threads: int) -> tuple[float, float, int, int]:
    """(requests/s, p99 ms, requests, non-2xx responses + socket errors) of one wrk run."""
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency",
                          url], capture_output=True, text=True, timeout=seconds + 60, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", out)
    bad = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    bad += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    requests_done = int(re.search(r"(\d+) requests in", out).group(1))
    return rate, float(p99.group(1)) * _UNITS[p99.group(2)], requests_done, bad


def seedbed_targets(url: str, pid: int, nodes: list[dict]) -> list[Target]:
    """Seedbed's endpoints: a node walked to installed boots locally; another's seed is open."""
    local_mac, seed_mac = nodes[0]["macs"][0], nodes[1]["macs"][0]
    token = seed_token(requests.get(f"{url}/ipxe", params={"mac": local_mac}, timeout=10).text)
    requests.post(f"{url}/api/v1/callback/{token}/installed", timeout=10).raise_for_status()
    seed = seed_token(requests.get(f"{url}/ipxe", params={"mac": seed_mac}, timeout=10).text)
    return [Target("seedbed /boot.ipxe", f"{url}/boot.ipxe", pid),
            Target("seedbed /ipxe (unknown MAC)", f"{url}/ipxe?mac={UNKNOWN_MAC}", pid),
            Target("seedbed /ipxe (local boot)", f"{url}/ipxe?mac={local_mac}", pid),
            Target("seedbed /seed/user-data", f"{url}/seed/{seed}/user-data", pid)]


def report(targets: list[Target], args: argparse.Namespace) -> None:
    by_name = {t.name: t for t in targets}
    nginx, bare, chain = by_name["nginx (static file)"], by_name["bare Flask route"], \
        by_name["seedbed /boot.ipxe"]
    print(f"wrk -t{args.threads} -c{args.connections} -d{args.seconds}s, {args.rounds} rounds "
          f"A/B alternated, medians; loopback, client and servers sharing {os.cpu_count()} cores")
    print(f"{'target':<30}{'req/s':>10}{'p99 ms':>9}{'CPU us/req':>11}{'errors':>8}   rounds req/s")
    for t in targets:
        print(f"{t.name:<30}{t.rate:>10.0f}{t.p99:>9.1f}{t.cpu:>11.0f}{t.errors:>8}   "
              + " ".join(f"{r:.0f}" for r in t.rates))
    # CPU per request does not depend on what else the shared cores run: the second ratio.
    print(f"/boot.ipxe vs bare Flask route: {chain.rate / bare.rate:.2f}x req/s, "
          f"{bare.cpu / chain.cpu:.2f}x by server CPU per request (target >= 0.8)")
    print(f"/boot.ipxe vs nginx, same bytes: {chain.rate / nginx.rate:.3f}x req/s, "
          f"{nginx.cpu / chain.cpu:.3f}x by server CPU per request (target >= 0.05)")
    for t in targets:
        if t.name.startswith("seedbed /ipxe") or t.name.startswith("seedbed /seed"):
            print(f"{t.name}: {t.rate:.0f} req/s, {1e6 / t.cpu:.0f} per CPU-second of the server "
                  f"(target >= 1000; writes to the store)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    args = parser.parse_args()
    for tool in ("wrk", "nginx"):
        if not (shutil.which(tool) or Path(f"/usr/sbin/{tool}").exists()):
            raise SystemExit(f"wrk_bench: {tool} is missing (Debian packages wrk, nginx-light)")
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        data = inventory(50)
        path = tmp / "bench.yaml"
        server = ServeProcess(path, tmp / "state")
        data["site"]["base_url"] = server.url
        path.write_text(yaml.safe_dump(data))
        with server:
            body = requests.get(f"{server.url}/boot.ipxe", timeout=10).content
            nginx, nginx_url = start_nginx(tmp, body)
            bare, bare_url = start_bare_flask(tmp, body)
            try:
                targets = [Target("nginx (static file)", nginx_url, nginx.pid),
                           Target("bare Flask route", bare_url, bare.pid),
                           *seedbed_targets(server.url, server.proc.pid, data["nodes"])]
                for t in targets:  # warm-up, not counted
                    run_wrk(t.url, 1, args.connections, args.threads)
                for round_no in range(args.rounds):
                    for t in targets if round_no % 2 == 0 else reversed(targets):
                        time.sleep(1)  # the last run's connections close (per-address limit)
                        cpu_before = cpu_seconds(t.pid)
                        rate, p99, done, bad = run_wrk(t.url, args.seconds, args.connections,
                                                       args.threads)
                        t.cpu_us.append((cpu_seconds(t.pid) - cpu_before) / max(done, 1) * 1e6)
                        t.rates.append(rate)
                        t.p99s.append(p99)
                        t.errors += bad
            finally:
                for proc in (nginx, bare):
                    proc.terminate()
                    proc.wait(timeout=10)
    report(targets, args)
    return 1 if any(t.errors for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
