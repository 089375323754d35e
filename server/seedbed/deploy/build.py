"""Cached artifact builds: one folder per input hash, built in a temp folder and renamed into place.

A complete entry holds `manifest.json` (written last, before the atomic rename),
so a crashed build never looks finished, and a lock keeps two builders apart.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

BUILD_TIMEOUT = 30 * 60
MANIFEST = "manifest.json"


class BuildError(RuntimeError):
    """A build step failed; the message names the step and carries the output's tail."""


def input_key(*parts: str) -> str:
    return hashlib.sha256("\n\0".join(parts).encode()).hexdigest()[:16]


def cached(root: Path, name: str, key: str, build: Callable[[Path], dict[str, Any]]) -> Path:
    """The entry `root/name-key`, building it with `build(tmpdir) -> manifest` when missing."""
    root.mkdir(parents=True, exist_ok=True)
    entry = root / f"{name}-{key}"
    if (entry / MANIFEST).is_file():
        return entry
    with BuildLock(root / f".{name}.lock"):
        if (entry / MANIFEST).is_file():  # built by another process meanwhile
            return entry
        for stale in root.glob(f"tmp-{name}-*"):  # left by a builder that died
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f"tmp-{name}-", dir=root))
        try:
            started = time.monotonic()
            manifest = build(tmp)
            manifest["build_seconds"] = round(time.monotonic() - started, 1)
            manifest["built_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
            os.rename(tmp, entry)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return entry


def manifest(entry: Path) -> dict[str, Any]:
    return json.loads((entry / MANIFEST).read_text())


class BuildLock:
    """An exclusive flock with a bounded wait: one builder per cache entry."""

    def __init__(self, path: Path, timeout: float = BUILD_TIMEOUT + 60) -> None:
        self.path, self.timeout = path, timeout

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    raise TimeoutError(f"timed out waiting for the build lock {self.path}") from None
                time.sleep(1)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def run(cmd: list[str], what: str, timeout: float = BUILD_TIMEOUT, **kwargs: Any) -> str:
    """Run a build command; on failure raise BuildError naming `what` with the output's tail."""
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=timeout, **kwargs)
    except subprocess.TimeoutExpired as exc:
        raise BuildError(f"{what}: timed out after {timeout:.0f}s") from exc
    except FileNotFoundError as exc:
        raise BuildError(f"{what}: {cmd[0]} is not installed") from exc
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise BuildError(f"{what} failed (rc={proc.returncode}):\n{tail}")
    return proc.stdout


def mmdebstrap(rootfs: Path, packages: Iterable[str], mirror: str, suite: str = "bookworm",
               hooks: Iterable[tuple[str, str]] = ()) -> None:
    cmd = ["mmdebstrap", "--variant=minbase", "--components=main",
           f"--include={','.join(packages)}"]
    cmd += [f"--{kind}-hook={script}" for kind, script in hooks]
    run([*cmd, suite, str(rootfs), mirror], "mmdebstrap")


def write_cpio(root: Path, out: Path) -> None:
    """Pack `root` into an uncompressed newc cpio archive (the initramfs format)."""
    with out.open("wb") as f:
        ino = 1
        for path in [root, *sorted(root.rglob("*"))]:
            name = "." if path == root else str(path.relative_to(root))
            st = path.lstat()
            if stat.S_ISLNK(st.st_mode):
                data = os.readlink(path).encode()
            elif stat.S_ISREG(st.st_mode):
                data = path.read_bytes()
            elif stat.S_ISDIR(st.st_mode):
                data = b""
            else:
                continue  # device nodes and sockets: devtmpfs provides them at boot
            _cpio_entry(f, name, st.st_mode, st.st_uid, st.st_gid, int(st.st_mtime), data, ino)
            ino += 1
        _cpio_entry(f, "TRAILER!!!", 0, 0, 0, 0, b"", 0)


def _cpio_entry(f: Any, name: str, mode: int, uid: int, gid: int, mtime: int, data: bytes,
                ino: int) -> None:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, uid, gid, 1, mtime, len(data), 0, 0, 0, 0, len(encoded), 0)
    header = b"070701" + b"".join(b"%08X" % v for v in fields)
    f.write(header + encoded + b"\0" * (-(len(header) + len(encoded)) % 4))
    f.write(data + b"\0" * (-len(data) % 4))
