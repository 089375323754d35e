"""The SSH probe of preflight (seedbed.cluster.sshprobe) ends its ssh whatever ssh does."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from seedbed.cluster import sshprobe


def test_an_ssh_that_ignores_sigterm_is_killed_and_reported(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # A login that never completes and an ssh that outlives SIGTERM (seen on a loaded
    # machine): preflight gets its one-line reason, not a traceback, in bounded time.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    pid_file = tmp_path / "ssh.pid"
    fake = bin_dir / "ssh"
    fake.write_text(f"#!/bin/sh\ntrap '' TERM\necho $$ > {pid_file}\nexec sleep 60\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(sshprobe, "STOP_SECONDS", 0.5)
    started = time.monotonic()
    problem = sshprobe.docker_ping("127.0.0.1", "labadmin", tmp_path / "key", timeout=1)
    assert problem == "ssh did not log in within 1s"
    assert time.monotonic() - started < 10
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)  # killed and reaped
