"""Build (once) and cache a Debian bookworm test image for QEMU boot tests.

The image is a raw ext4 root filesystem plus the kernel and initrd copied out
of it, so a guest can be netbooted with `root=/dev/vda`. Building takes about
a minute; later runs reuse the cache entry keyed by package list + recipe.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from seedbed.deploy.aptsources import debian_mirror as system_debian_mirror

log = logging.getLogger(__name__)

# Bump whenever the recipe below changes in a way that alters the image.
RECIPE_VERSION = "4"
SUITE = "bookworm"
DISK_SIZE = 2 * 1024**3  # sparse; leaves room for tests writing to the overlay
BUILD_TIMEOUT = 30 * 60
LOCK_TIMEOUT = BUILD_TIMEOUT + 60

# ifupdown + isc-dhcp-client is the renderer cloud-init uses on bookworm
# (no netplan there); dbus lets cloud-init set the hostname via hostnamectl.
PACKAGES: tuple[str, ...] = (
    "systemd",
    "systemd-sysv",
    "udev",
    "dbus",
    "linux-image-cloud-amd64",
    "initramfs-tools",
    "cloud-init",
    "openssh-server",
    "sudo",
    "curl",
    "iproute2",
    "ifupdown",
    "isc-dhcp-client",
    "netbase",
)

# Runs before the kernel package is installed, so its first initramfs already
# carries the virtio/ext4 drivers needed to mount /dev/vda.
_ESSENTIAL_HOOK = r"""
mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"
echo MODULES=most > "$1/etc/initramfs-tools/conf.d/seedbed.conf"
printf '%s\n' virtio_pci virtio_blk virtio_net ext4 \
  > "$1/usr/share/initramfs-tools/modules.d/seedbed"
"""

# fsck pass 0: the kernel mounts root rw already (root=/dev/vda rw).
_CUSTOMIZE_HOOK = r"""
echo '/dev/vda / ext4 rw,errors=remount-ro 0 0' > "$1/etc/fstab"
# A swap file like the one Ubuntu's installer makes, so tests see the seed turn swap
# off. Filled with 0xff: mkfs.ext4 -d would make zero blocks holes, and swapon refuses holes.
head -c 64M /dev/zero | tr '\0' '\377' > "$1/swap.img"
chmod 600 "$1/swap.img"
chroot "$1" mkswap /swap.img >/dev/null
echo '/swap.img none swap sw 0 0' >> "$1/etc/fstab"
echo seedbed-test > "$1/etc/hostname"
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' \
  > "$1/etc/network/interfaces"
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer \
            e2scrub_reap.service fstrim.timer; do
  chroot "$1" systemctl mask "$unit" >/dev/null 2>&1 || true
done
"""


@dataclass(frozen=True)
class TestImage:
    """Paths of one cached image; treat them as read-only."""

    __test__ = False  # not a pytest test class despite the name

    kernel: Path
    initrd: Path
    disk: Path
    packages: list[str] = field(default_factory=list)
    manifest: dict = field(default_factory=dict)


def default_cache_root() -> Path:
    env = os.environ.get("SEEDBED_TEST_CACHE")
    if env:
        return Path(env)
    return Path.home() / ".cache" / "seedbed" / "test-image"


def debian_mirror() -> str:
    """The Debian mirror apt on this machine already uses (it is reachable)."""
    return os.environ.get("SEEDBED_DEBIAN_MIRROR") or system_debian_mirror()


def cache_key(packages: tuple[str, ...] = PACKAGES) -> str:
    recipe = "\n".join([RECIPE_VERSION, SUITE, *sorted(packages), _ESSENTIAL_HOOK, _CUSTOMIZE_HOOK])
    return hashlib.sha256(recipe.encode()).hexdigest()[:16]


def build_test_image(cache_root: Path | None = None) -> TestImage:
    """Return the cached image, building it first if no complete entry exists."""
    root = Path(cache_root) if cache_root else default_cache_root()
    root.mkdir(parents=True, exist_ok=True)
    entry = root / f"{SUITE}-{cache_key()}"
    if not _complete(entry):
        with _locked(root / ".lock"):
            if not _complete(entry):  # another process may have built it meanwhile
                _remove_stale_temps(root)
                _build(entry)
    return _load(entry)


def _complete(entry: Path) -> bool:
    # The manifest is written last and the directory renamed into place
    # atomically, so its presence means the entry is whole.
    return (entry / "image.json").is_file()


def _load(entry: Path) -> TestImage:
    manifest = json.loads((entry / "image.json").read_text())
    return TestImage(
        kernel=entry / "vmlinuz",
        initrd=entry / "initrd.img",
        disk=entry / "disk.raw",
        packages=list(manifest["packages"]),
        manifest=manifest,
    )


class _locked:
    """Exclusive flock with a bounded wait (a build holds it for ~1-2 min)."""

    def __init__(self, path: Path, timeout: float = LOCK_TIMEOUT) -> None:
        self.path, self.timeout = path, timeout

    def __enter__(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        while not self._try_lock():
            if time.monotonic() > deadline:
                os.close(self.fd)
                raise TimeoutError(f"timed out waiting for image build lock {self.path}")
            time.sleep(1)

    def _try_lock(self) -> bool:
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)


def _remove_stale_temps(root: Path) -> None:
    # We hold the lock, so any temp dir left is from a builder that died.
    for tmp in root.glob("tmp-*"):
        shutil.rmtree(tmp, ignore_errors=True)


def _build(entry: Path) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="tmp-", dir=entry.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700; the entry is meant to be shared read-only
    try:
        started = time.monotonic()
        _say(f"building test image {entry.name} (first run only, ~1-2 min)")
        rootfs = tmp / "rootfs"
        _mmdebstrap(rootfs)
        kver = _copy_boot_files(rootfs, tmp)
        _make_disk(rootfs, tmp / "disk.raw")
        shutil.rmtree(rootfs)
        seconds = round(time.monotonic() - started, 1)
        manifest = {
            "suite": SUITE,
            "packages": list(PACKAGES),
            "recipe_version": RECIPE_VERSION,
            "kernel_version": kver,
            "mirror": debian_mirror(),
            "build_seconds": seconds,
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        (tmp / "image.json").write_text(json.dumps(manifest, indent=2) + "\n")
        os.rename(tmp, entry)
        _say(f"test image built in {seconds}s: {entry}")
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _mmdebstrap(rootfs: Path) -> None:
    cmd = [
        "mmdebstrap",
        "--variant=minbase",
        "--components=main",
        f"--include={','.join(PACKAGES)}",
        f"--essential-hook={_ESSENTIAL_HOOK}",
        f"--customize-hook={_CUSTOMIZE_HOOK}",
        SUITE,
        str(rootfs),
        debian_mirror(),
    ]
    _run(cmd, "mmdebstrap")


def _copy_boot_files(rootfs: Path, dest: Path) -> str:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise RuntimeError(f"expected one kernel in {rootfs}/boot, found {kernels}")
    kver = kernels[0].name.removeprefix("vmlinuz-")
    initrd = rootfs / "boot" / f"initrd.img-{kver}"
    if not initrd.is_file():
        raise RuntimeError(f"no initrd for kernel {kver} in {rootfs}/boot")
    shutil.copyfile(kernels[0], dest / "vmlinuz")
    shutil.copyfile(initrd, dest / "initrd.img")
    return kver


def _make_disk(rootfs: Path, disk: Path) -> None:
    # mkfs.ext4 -d copies the tree into the new filesystem: no loop mount needed.
    with open(disk, "wb") as f:
        f.truncate(DISK_SIZE)
    _run(["mkfs.ext4", "-q", "-F", "-L", "seedbed-root", "-d", str(rootfs), str(disk)], "mkfs.ext4")


def _run(cmd: list[str], what: str) -> None:
    proc = subprocess.run(
        cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=BUILD_TIMEOUT
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-40:])
        raise RuntimeError(f"{what} failed (rc={proc.returncode}):\n{tail}")


def _say(msg: str) -> None:
    log.info(msg)
    print(f"[seedbed-image] {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    img = build_test_image()
    print(json.dumps(img.manifest, indent=2))
