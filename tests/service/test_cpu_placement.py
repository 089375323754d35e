"""`seedbed serve --cpu`: the threads answering requests on one CPU, the others left free."""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from seedbed import cpu_placement
from support import ServeProcess, inventory_data, wait_for, write_inventory

ALLOWED = os.sched_getaffinity(0)
THREADS, STREAMS = 2, 1
# The loop thread, the workers (--threads plus --console-streams), the store's writer and
# the log writer.
REQUEST_THREADS = 1 + THREADS + STREAMS + 2
# Started by service.start() before serve pins anything: cluster jobs, power jobs, the
# inventory watcher, the signed-chain keeper.
FREE_THREADS_AT_LEAST = 4

needs_two_cpus = pytest.mark.skipif(len(ALLOWED) < 2, reason="pinning needs two CPUs to choose from")


def affinities(pid: int) -> dict[int, set[int]]:
    """Each thread of `pid` (native id) and the CPUs it may run on."""
    found = {}
    for tid in map(int, os.listdir(f"/proc/{pid}/task")):
        with contextlib.suppress(ProcessLookupError):  # a short-lived thread ended meanwhile
            found[tid] = os.sched_getaffinity(tid)
    return found


def serve(tmp_path: Path, *args: str) -> ServeProcess:
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    return ServeProcess(inventory, tmp_path / "state", extra_args=[
        "--threads", str(THREADS), "--console-streams", str(STREAMS), *args])


def split(pid: int) -> tuple[dict[int, set[int]], dict[int, set[int]]]:
    threads = affinities(pid)
    pinned = {tid: cpus for tid, cpus in threads.items() if cpus != ALLOWED}
    free = {tid: cpus for tid, cpus in threads.items() if cpus == ALLOWED}
    return pinned, free


@needs_two_cpus
@pytest.mark.parametrize("setting", ["auto", str(max(ALLOWED))])
def test_request_threads_share_one_cpu_and_job_threads_stay_free(tmp_path: Path, setting: str) -> None:
    with serve(tmp_path, "--cpu", setting) as server:
        assert server.proc is not None
        pid = server.proc.pid
        # The workers exist once serve() built the server; /healthz answering says so.
        pinned, free = split(pid)
        assert len(pinned) == REQUEST_THREADS, (pinned, free)
        cpus = {frozenset(c) for c in pinned.values()}
        assert len(cpus) == 1 and len(next(iter(cpus))) == 1, cpus
        cpu = next(iter(next(iter(cpus))))
        if setting != "auto":
            assert cpu == int(setting)
        assert pid in pinned, "the loop thread (the process's main thread) is not pinned"
        assert len(free) >= FREE_THREADS_AT_LEAST, free
        wait_for("the CPU in the log", lambda: f"run on CPU {cpu}" in server.log())


@needs_two_cpus
def test_any_pins_nothing(tmp_path: Path) -> None:
    with serve(tmp_path, "--cpu", "any") as server:
        assert server.proc is not None
        pinned, free = split(server.proc.pid)
        assert pinned == {} and len(free) >= REQUEST_THREADS + FREE_THREADS_AT_LEAST
        assert "run on CPU" not in server.log()


def test_a_cpu_the_process_may_not_use_is_refused_by_name() -> None:
    absent = max(ALLOWED) + 1
    done = subprocess.run([sys.executable, "-m", "seedbed.cli", "serve", "--cpu", str(absent)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"CPU {absent} is not one this process may run on (CPUs {sorted(ALLOWED)})" in done.stderr


@pytest.mark.parametrize("text", ["", "first", "1.5", "0-3"])
def test_a_setting_that_is_no_cpu_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="is not auto, any or a CPU number"):
        cpu_placement.cpu_setting(text)


def test_one_allowed_cpu_or_any_means_no_pinning(monkeypatch: pytest.MonkeyPatch) -> None:
    assert cpu_placement.choose(cpu_placement.ANY) is None
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {3})
    assert cpu_placement.choose(cpu_placement.AUTO) is None
    assert cpu_placement.choose(3) is None


def test_auto_is_the_cpu_this_thread_runs_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {2, 5})
    monkeypatch.setattr(cpu_placement, "current_cpu", lambda: 5)
    assert cpu_placement.choose(cpu_placement.AUTO) == 5
    monkeypatch.setattr(cpu_placement, "current_cpu", lambda: 0)  # not allowed (any more)
    assert cpu_placement.choose(cpu_placement.AUTO) == 2


@needs_two_cpus
def test_a_refused_pin_leaves_every_thread_as_it_was(monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    me = threading.get_native_id()
    real = os.sched_setaffinity
    calls: list[tuple[int, set[int]]] = []

    def refuse_the_second(tid: int, cpus: set[int]) -> None:
        calls.append((tid, set(cpus)))
        if len(calls) == 2:
            raise PermissionError(1, "Operation not permitted")
        real(tid, cpus)

    monkeypatch.setattr(os, "sched_setaffinity", refuse_the_second)
    cpu = max(ALLOWED)
    assert cpu_placement.pin(cpu, [me, None, me]) is False
    assert os.sched_getaffinity(me) == ALLOWED, "the thread pinned first was not set back"
    assert calls[:2] == [(me, {cpu}), (me, {cpu})]
    assert "the request threads stay unpinned: CPU" in caplog.text


def test_current_cpu_reads_the_kernels_answer() -> None:
    assert cpu_placement.current_cpu() in range(os.cpu_count() or 1)
