"""The service's own SSH identity: an ed25519 key pair RKE uses to reach every node.

Generated once, at first start, with OpenSSH's ssh-keygen (no extra Python
dependency, and the file format is exactly what rke's Go SSH client reads).
The private key stays in STATE/ssh (0700) as id_ed25519 (0600).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

KEY_NAME = "id_ed25519"


class ServiceKeyError(Exception):
    """The key pair could not be made (ssh-keygen missing or failing)."""


@dataclass(frozen=True)
class ServiceKey:
    private: Path
    public: str  # one authorized_keys line: "ssh-ed25519 AAAA... seedbed@host"


def key_dir(state_dir: Path) -> Path:
    return state_dir / "ssh"


def load_service_key(state_dir: Path) -> ServiceKey | None:
    """The key pair if it exists (never creates one: previews change no state)."""
    private = key_dir(state_dir) / KEY_NAME
    public = private.with_suffix(".pub")
    if not private.is_file() or not public.is_file():
        return None
    return ServiceKey(private, public.read_text(encoding="ascii").strip())


def ensure_service_key(state_dir: Path) -> ServiceKey:
    """Load the key pair, creating it (or just its public half) when missing."""
    folder = key_dir(state_dir)
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    with open(folder / ".lock", "w") as lock:  # two processes starting at once make one key
        fcntl.lockf(lock, fcntl.LOCK_EX)
        private = folder / KEY_NAME
        if not private.exists():
            _generate(private)
        os.chmod(private, 0o600)  # ssh and rke refuse keys others can read
        public = private.with_suffix(".pub")
        if not public.exists():
            line = _keygen("-y", "-f", str(private)).strip()
            public.write_text(line + "\n", encoding="ascii")
    key = load_service_key(state_dir)
    assert key is not None
    return key


def _generate(private: Path) -> None:
    comment = f"seedbed@{socket.gethostname()}"
    with tempfile.TemporaryDirectory(dir=private.parent) as tmp:
        target = Path(tmp) / KEY_NAME
        _keygen("-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(target))
        # The public half first: a private key present means the pair is complete.
        os.replace(target.with_suffix(".pub"), private.with_suffix(".pub"))
        os.replace(target, private)


def _keygen(*args: str) -> str:
    tool = shutil.which("ssh-keygen")
    if tool is None:
        raise ServiceKeyError("ssh-keygen is missing: install OpenSSH's client "
                        "(Debian/Ubuntu: apt-get install openssh-client)")
    done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=60, check=False,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise ServiceKeyError(f"ssh-keygen {' '.join(args[:2])} failed: {done.stderr.strip()}")
    return done.stdout
