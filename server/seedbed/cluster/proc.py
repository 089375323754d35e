"""Running one external command of a job: output streamed into the job's log, bounded in time.

Each command starts in its own session so a time-out (or a later service
start finding it orphaned) can stop it together with its children.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol


class Log(Protocol):
    def write(self, text: str) -> None: ...


class CommandFailed(Exception):
    def __init__(self, stage: str, reason: str):
        super().__init__(f"{stage}: {reason}")
        self.stage = stage
        self.reason = reason


@dataclass(frozen=True)
class Started:
    pid: int
    start_ticks: str | None  # /proc/<pid>/stat start time: tells a pid apart from a reused one


def run(argv: Sequence[str], *, stage: str, cwd: Path, env: Mapping[str, str], timeout: float,
        log: Log, on_start: Callable[[Started], None] | None = None,
        log_output: bool = True) -> str:
    """Run argv; return its output, or raise CommandFailed naming the stage.

    log_output False keeps an output out of the log (a kubeconfig's keys): only its size is,
    and on failure its last line (an error, not the file) goes into the reason.
    """
    log.write(f"$ {' '.join(argv)}\n")
    try:
        child = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 errors="replace", bufsize=1, start_new_session=True)
    except OSError as exc:
        raise CommandFailed(stage, f"cannot start {argv[0]}: {exc.strerror}") from exc
    if on_start is not None:
        on_start(Started(child.pid, process_start(child.pid)))
    timed_out = threading.Event()

    def expire() -> None:
        timed_out.set()
        stop_group(child.pid)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    output: list[str] = []
    try:
        assert child.stdout is not None
        for line in child.stdout:
            output.append(line)
            if log_output:
                log.write(line)
        code = child.wait()
        if not log_output:
            log.write(f"# ({len(output)} lines of output not logged)\n")
    finally:
        timer.cancel()
    if timed_out.is_set():
        raise CommandFailed(stage, f"{os.path.basename(argv[0])} did not finish within "
                                   f"{timeout:.0f}s and was stopped")
    if code != 0:
        said = [ln.strip() for ln in output if ln.strip()][-1:] if not log_output else []
        raise CommandFailed(stage, f"{os.path.basename(argv[0])} exited with status {code}"
                            + "".join(f": {line[:300]}" for line in said))
    return "".join(output)


def process_start(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (start time in clock ticks); None when gone or a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    if fields[0] == "Z":
        return None
    return fields[19]


def stop_group(pid: int, grace: float = 5.0) -> None:
    """SIGTERM the process group led by pid, then SIGKILL whatever is left after `grace`."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if process_start(pid) is None:
                return
            time.sleep(0.05)
