"""Boot artifacts taken from an Ubuntu live-server ISO, one folder per release.

`import_iso` reads the ISO with xorriso (no loop mount, no root), optionally checks it
against Ubuntu's SHA256SUMS first, and writes FILES/releases/<release>/ with the
installer's kernel and initrd and the signed shim and GRUB, plus manifest.json naming
each file's hash. The manifest is written last and the folder moved into place whole,
so a release with a manifest is complete; a failed import leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import SeedbedError
from .fsutil import atomic_write

RELEASES = "releases"
MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
# What each release holds, under the names seedbed serves, from the ISO's paths
# (compared without case: Ubuntu 20.04's ISO spells them EFI/BOOT/BOOTx64.EFI).
KERNEL, INITRD = "casper/vmlinuz", "casper/initrd"
SHIM, GRUB = "EFI/boot/bootx64.efi", "EFI/boot/grubx64.efi"
RELEASE_FILES = (KERNEL, INITRD, SHIM, GRUB)
RELEASE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")
XORRISO_TIMEOUT = 600  # seconds: extracting ~150 MB from a 2 GB ISO on a slow NAS disk
_CHUNK = 1 << 20


class ArtifactError(SeedbedError):
    """An ISO that cannot be imported, or a release that is not there."""


@dataclass(frozen=True)
class Imported:
    release: str
    folder: Path
    changed: bool  # False: the same files were already imported (nothing was written)
    manifest: dict


def release_folder(files: Path, release: str) -> Path:
    return files / RELEASES / release


def release_path(release: str, name: str) -> str:
    """A release file's path under the files folder, as the inventory and /files/ name it."""
    return f"{RELEASES}/{release}/{name}"


def check_release_name(name: str) -> str:
    if not RELEASE_NAME.fullmatch(name) or ".." in name:
        raise ValueError(f"{name!r} is not a release name of letters, digits and ._+- "
                         "(such as ubuntu-24.04.1-live-server-amd64)")
    return name


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def expected_sha256(sums: Path, iso_name: str) -> str:
    """The ISO's line in Ubuntu's SHA256SUMS (`HEX *name` or `HEX  name`)."""
    for line in sums.read_text(encoding="utf-8", errors="replace").splitlines():
        match = re.fullmatch(r"([0-9a-fA-F]{64}) [ *](.+)", line.strip())
        if match and match.group(2).strip() == iso_name:
            return match.group(1).lower()
    raise ArtifactError(f"{sums} has no line for {iso_name}: is it the SHA256SUMS of that release?")


def read_manifest(files: Path, release: str) -> dict | None:
    try:
        return json.loads((release_folder(files, release) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def release_problem(files: Path, release: str) -> str | None:
    """Why the release cannot be served from `files` (None: its manifest and files are there)."""
    manifest = read_manifest(files, release)
    command = f"seedbed artifacts import ISO --files {files} --release {release}"
    if manifest is None:
        return f"release {release!r} has no {MANIFEST} under {files / RELEASES}: run `{command}`"
    for name, entry in manifest.get("files", {}).items():
        path = release_folder(files, release) / name
        if not path.is_file() or path.stat().st_size != entry.get("size"):
            return f"release {release!r}: {name} is missing or changed since the import: run `{command}`"
    return None


def import_iso(iso: Path, files: Path, release: str | None = None, sums: Path | None = None) -> Imported:
    """Check, extract and install one release; idempotent for the same ISO."""
    release = check_release_name(release or iso.name.removesuffix(".iso"))
    iso_sha = sha256_file(iso)
    if sums is not None and iso_sha != (want := expected_sha256(sums, iso.name)):
        raise ArtifactError(f"{iso.name}: sha256 {iso_sha} does not match {want} in {sums}: "
                            "nothing imported (a damaged or different download?)")
    wanted = _iso_paths(iso)
    target = release_folder(files, release)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{release}."))
    try:
        for name, iso_path in wanted.items():
            _extract(iso, iso_path, staging / name)
        manifest = {"format": MANIFEST_FORMAT, "release": release,
                    "iso": {"name": iso.name, "sha256": iso_sha},
                    "files": {name: {"sha256": sha256_file(staging / name),
                                     "size": (staging / name).stat().st_size}
                              for name in RELEASE_FILES}}
        if read_manifest(files, release) == manifest and release_problem(files, release) is None:
            return Imported(release, target, False, manifest)
        atomic_write(staging / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
        _swap_into_place(staging, target)
        return Imported(release, target, True, manifest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _iso_paths(iso: Path) -> dict[str, str]:
    """Each release file's path inside the ISO (matched without case)."""
    listing = _xorriso(iso, "-find", "/", "-type", "f")
    found = {}
    for line in listing.splitlines():
        if line.startswith("'") and line.endswith("'"):
            path = line[1:-1].replace("'\"'\"'", "'")
            found.setdefault(path.lstrip("/").lower(), path)
    missing = [name for name in RELEASE_FILES if name.lower() not in found]
    if missing:
        raise ArtifactError(f"{iso.name} is not an Ubuntu live-server ISO: it has no "
                            f"{', '.join(missing)}")
    return {name: found[name.lower()] for name in RELEASE_FILES}


def _extract(iso: Path, iso_path: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    _xorriso(iso, "-osirrox", "on", "-extract", iso_path, str(dest))
    os.chmod(dest, 0o644)  # ISO files are read-only; the next import replaces them


def _xorriso(iso: Path, *commands: str) -> str:
    if shutil.which("xorriso") is None:
        raise ArtifactError("xorriso is not installed (Debian/Ubuntu: apt-get install xorriso)")
    try:
        done = subprocess.run(["xorriso", "-abort_on", "FAILURE", "-indev", str(iso), *commands],
                              capture_output=True, text=True, timeout=XORRISO_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise ArtifactError(f"xorriso did not finish reading {iso} in {XORRISO_TIMEOUT}s") from None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise ArtifactError(f"xorriso could not read {iso}: {' '.join(tail)}")
    return done.stdout


def _swap_into_place(staging: Path, target: Path) -> None:
    """Replace `target` by the complete `staging` folder; a reader never sees a mix."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old.{os.getpid()}")
        os.rename(target, old)
    os.rename(staging, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    dir_fd = os.open(target.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
