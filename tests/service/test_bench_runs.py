"""`make bench`'s protocol walk still runs against today's service: a few machines, one round,
every endpoint answered with no error (the figures themselves are `make bench`'s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "http_bench.py"
ENDPOINTS = ("GET /boot.ipxe", "GET /ipxe (install)", "GET /seed/meta-data", "GET /seed/user-data",
             "GET /seed/vendor-data", "POST /report", "POST /callback/installed",
             "GET /ipxe (local)", "POST /callback/ready")


def test_the_protocol_walk_of_make_bench_answers_every_step() -> None:
    run = subprocess.run([sys.executable, str(BENCH), "--machines", "3", "--rounds", "2",
                          "--ramp", "0", "--think", "0"],
                         capture_output=True, text=True, timeout=180, check=False)
    assert run.returncode == 0, f"http_bench failed:\n{run.stdout}\n{run.stderr[-3000:]}"
    rows = {line[:26].strip(): line.split() for line in run.stdout.splitlines()[2:]}
    for endpoint in ENDPOINTS:
        assert endpoint in rows, f"{endpoint} missing from:\n{run.stdout}"
        requests_made, errors = int(rows[endpoint][-6]), int(rows[endpoint][-1])
        expected = 2 * 3 * (2 if endpoint == "POST /report" else 1)
        assert (requests_made, errors) == (expected, 0), f"{endpoint}:\n{run.stdout}"
