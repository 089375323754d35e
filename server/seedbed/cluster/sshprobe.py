"""Reach a node's Docker socket through SSH with the service key, as rke does.

rke logs in as the node's `user` and opens a direct-streamlocal channel to the
Docker socket (Go's ssh Dial("unix", ...)). OpenSSH's `-L local.sock:remote.sock`
opens the same channel type, so a `GET /_ping` through it fails exactly when rke's
tunnel would: key refused, forwarding disabled in sshd, user not allowed on the socket,
Docker not running.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

DOCKER_SOCKET = "/var/run/docker.sock"  # rke's default; seedbed's cluster.yml does not change it
STOP_SECONDS = 5.0


def ssh_argv(ssh: str, address: str, user: str, key: Path, *, port: int = 22,
             timeout: float = 10.0, extra: Sequence[str] = (),
             command: Sequence[str] = ()) -> list[str]:
    """ssh as the service key, non-interactive; `extra` options, then `command` on the node."""
    return [ssh, *extra, "-i", str(key), "-p", str(port), "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes", "-o", f"ConnectTimeout={int(timeout)}",
            # rke itself does not check host keys (a reinstalled node has new ones).
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
            "-o", "LogLevel=ERROR", f"{user}@{address}", *command]


def docker_ping(address: str, user: str, key: Path, *, port: int = 22, timeout: float = 10.0,
                socket_path: str = DOCKER_SOCKET) -> str | None:
    """None if Docker answers /_ping through SSH, else the reason in one line."""
    ssh = shutil.which("ssh")
    if ssh is None:
        return "no ssh client here (apt-get install openssh-client)"
    with tempfile.TemporaryDirectory(prefix="seedbed-ssh-") as folder:
        local = Path(folder) / "docker.sock"
        argv = ssh_argv(ssh, address, user, key, port=port, timeout=timeout,
                        extra=["-N", "-o", "ExitOnForwardFailure=yes",
                               "-L", f"{local}:{socket_path}"])
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True, errors="replace")
        try:
            return _ping_through(child, local, timeout)
        finally:
            _end(child)


def _end(child: subprocess.Popen[str]) -> None:
    """Stop ssh: SIGTERM, then SIGKILL if it is still there after STOP_SECONDS (a loaded
    machine or a login half made; waiting for it unbounded ended preflight in a traceback)."""
    if child.poll() is None:
        child.terminate()
    try:
        child.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait(timeout=STOP_SECONDS)
    if child.stderr is not None:
        child.stderr.close()


def _ping_through(child: subprocess.Popen[str], local: Path, timeout: float) -> str | None:
    deadline = time.monotonic() + timeout + 2
    while not local.exists():
        if child.poll() is not None:
            assert child.stderr is not None
            lines = [ln for ln in child.stderr.read().splitlines() if ln.strip()]
            return "ssh failed: " + (lines[-1] if lines else f"exit status {child.returncode}")
        if time.monotonic() > deadline:
            return f"ssh did not log in within {timeout:.0f}s"
        time.sleep(0.05)
    reply = b""
    try:
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(timeout)
            sock.connect(str(local))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            while chunk := sock.recv(4096):
                reply += chunk
                if len(reply) > 65536:
                    break
    except ConnectionResetError:
        pass  # sshd refused the channel: as if closed without an answer
    except OSError as exc:
        return f"the Docker socket did not answer through SSH: {exc}"
    status = reply.split(b"\r\n", 1)[0].decode("latin-1")
    if not reply:
        return ("the tunnel to the Docker socket closed without an answer (forwarding refused "
                "by sshd, the socket missing, or the user not allowed on it)")
    if " 200 " not in f"{status} " or not reply.endswith(b"OK"):
        return f"the Docker socket answered {status!r}, not 200 OK"
    return None
