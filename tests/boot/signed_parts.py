"""The Debian-signed boot chain for Secure Boot tests: shim and network GRUB from Debian 12's
packages (installed on the host), and Debian 13's network GRUB (2.12, with `http`) fetched
once by name with `apt-get download` through a private apt configuration.

The private configuration derives the mirror from the system's own sources
(seedbed.deploy.aptsources) and keeps its lists, cache and status under the cache folder:
the system's apt sources and state are never changed. The cache entry is made under a
lock and moved into place whole.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from seedbed.deploy.aptsources import debian_mirror

SHIM = Path("/usr/lib/shim/shimx64.efi.signed")  # shim-signed: Microsoft-signed, trusts Debian's CA
GRUB_206 = Path("/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed")  # grub-efi-amd64-signed
NEXT_SUITE = "trixie"  # Debian 13: GRUB 2.12, signed with the same Debian key
NEXT_PACKAGE = "grub-efi-amd64-signed"
NETGRUB_IN_DEB = "usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed"
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
APT_TIMEOUT = 600


def cache_root() -> Path:
    return Path(os.environ.get("SEEDBED_TEST_CACHE") or Path.home() / ".cache" / "seedbed") / "signed-grub"


def grub_212() -> Path:
    """Debian 13's signed network GRUB, from the cache or downloaded once."""
    root = cache_root()
    target = root / f"{NEXT_SUITE}-grubnetx64.efi.signed"
    if target.is_file():
        return target
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            with tempfile.TemporaryDirectory(dir=root) as work:
                shutil.copyfile(_extract(_download(Path(work)), Path(work)), f"{target}.part")
                os.replace(f"{target}.part", target)
    return target


def _private_apt(work: Path) -> list[str]:
    """apt-get options for a private configuration: own sources, lists, cache, status."""
    for folder in ("lists/partial", "cache/archives/partial", "etc/sources.list.d"):
        (work / folder).mkdir(parents=True, exist_ok=True)
    (work / "status").write_text("")
    sources = work / "etc" / "sources.list"
    sources.write_text(f"deb [signed-by={KEYRING}] {debian_mirror()} {NEXT_SUITE} main\n")
    return ["-o", f"Dir::Etc::SourceList={sources}", "-o", f"Dir::Etc::SourceParts={work}/etc/sources.list.d",
            "-o", f"Dir::State::Lists={work}/lists", "-o", f"Dir::State::Status={work}/status",
            "-o", f"Dir::Cache={work}/cache", "-o", "APT::Architecture=amd64", "-o", "Debug::NoLocking=1",
            "-o", "APT::Get::List-Cleanup=0"]


def _download(work: Path) -> Path:
    options = _private_apt(work)
    for step in (["update"], ["download", NEXT_PACKAGE]):
        done = subprocess.run(["apt-get", "-q", *options, *step], cwd=work, capture_output=True,
                              text=True, timeout=APT_TIMEOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"apt-get {' '.join(step)} ({NEXT_SUITE}, private config) failed: "
                               f"{done.stderr.strip()[-600:]}")
    debs = sorted(work.glob(f"{NEXT_PACKAGE}_*.deb"))
    if not debs:
        raise RuntimeError(f"apt-get download left no {NEXT_PACKAGE} .deb in {work}")
    return debs[-1]


def _extract(deb: Path, work: Path) -> Path:
    unpacked = work / "unpacked"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked)], check=True, capture_output=True,
                   timeout=APT_TIMEOUT, stdin=subprocess.DEVNULL)
    grub = unpacked / NETGRUB_IN_DEB
    if not grub.is_file():
        raise RuntimeError(f"{deb.name} has no {NETGRUB_IN_DEB}")
    return grub
