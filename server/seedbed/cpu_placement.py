"""Which CPU the threads that answer requests run on.

They take turns at one interpreter lock. Spread over the CPUs, nearly every turn handed the
lock to a thread asleep on another CPU, which had to be woken there: in the burst of
`bench/http_bench.py --ramp 0` a request cost a third more CPU than with the same threads
on one CPU, and its latency showed it. So `seedbed serve` keeps its loop thread, its worker
threads, the store's writer and the log writer on one CPU, by default the one it starts on
(where the scheduler placed it). Threads that start other programs (cluster and power jobs,
dnsmasq's supervisor) are left free: a child inherits its thread's CPUs, and `rke2` or
`helm` must not be held to one. Linux only; elsewhere nothing is pinned.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
from collections.abc import Iterable
from pathlib import Path

log = logging.getLogger(__name__)

AUTO = "auto"  # the CPU seedbed serve starts on
ANY = "any"  # no pinning: the scheduler places every thread


def cpu_setting(text: str) -> str | int:
    """An argparse type for --cpu: auto, any, or a CPU number this process may run on."""
    if text in (AUTO, ANY):
        return text
    try:
        cpu = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {AUTO}, {ANY} or a CPU number") from None
    allowed = _allowed()
    if allowed is not None and cpu not in allowed:
        raise argparse.ArgumentTypeError(
            f"CPU {cpu} is not one this process may run on (CPUs {sorted(allowed)})")
    return cpu


def choose(setting: str | int) -> int | None:
    """The CPU for the request threads, or None to leave them where the scheduler puts them
    (`any`, not Linux, or only one CPU allowed anyway)."""
    allowed = _allowed()
    if setting == ANY or allowed is None or len(allowed) < 2:
        return None
    if setting == AUTO:
        cpu = current_cpu()
        return cpu if cpu in allowed else min(allowed)
    return int(setting)


def pin(cpu: int, thread_ids: Iterable[int | None]) -> bool:
    """Keep each thread (a native thread id, `threading.get_native_id()`; None: no thread)
    on `cpu`; threads they start from now on inherit it. False, every thread left where it
    was, when the system refuses (a system-call filter, a CPU taken offline): serving
    unpinned is slower, not wrong."""
    threads = [tid for tid in thread_ids if tid is not None]
    before = {tid: os.sched_getaffinity(tid) for tid in threads}
    try:
        for tid in threads:
            os.sched_setaffinity(tid, {cpu})
    except OSError as exc:
        log.warning("the request threads stay unpinned: CPU %d refused (%s)", cpu, exc)
        for tid, cpus in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(tid, cpus)
        return False
    return True


def current_cpu() -> int:
    """The CPU this thread last ran on (field 39 of /proc/thread-self/stat)."""
    stat = Path("/proc/thread-self/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[36])


def _allowed() -> set[int] | None:
    if not hasattr(os, "sched_getaffinity"):
        return None
    return os.sched_getaffinity(0)
