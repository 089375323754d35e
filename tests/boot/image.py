"""Build (once) and cache a Debian bookworm test image for QEMU boot tests.

The image is a raw ext4 root filesystem plus the kernel and initrd copied out
of it, so a guest can be netbooted with `root=/dev/vda`. Building takes about
a minute; later runs reuse the cache entry keyed by package list + recipe
(seedbed.deploy.build.cached: one folder per input hash, renamed into place).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seedbed.deploy.aptsources import debian_mirror as system_debian_mirror
from seedbed.deploy.build import BuildError, cached, input_key, manifest, mmdebstrap, run

log = logging.getLogger(__name__)

# Bump whenever the recipe below changes in a way that alters the image.
# 5: built by seedbed.deploy.build (its manifest.json marks a complete entry).
RECIPE_VERSION = "5"
SUITE = "bookworm"
DISK_SIZE = 2 * 1024**3  # sparse; leaves room for tests writing to the overlay

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
    return input_key(RECIPE_VERSION, SUITE, *sorted(packages), _ESSENTIAL_HOOK, _CUSTOMIZE_HOOK)


def build_test_image(cache_root: Path | None = None) -> TestImage:
    """Return the cached image, building it first if no complete entry exists."""
    root = Path(cache_root) if cache_root else default_cache_root()
    entry = cached(root, SUITE, cache_key(), _build)
    return TestImage(kernel=entry / "vmlinuz", initrd=entry / "initrd.img", disk=entry / "disk.raw",
                     packages=list(manifest(entry)["packages"]), manifest=manifest(entry))


def _build(tmp: Path) -> dict[str, Any]:
    tmp.chmod(0o755)  # mkdtemp makes it 0700; the entry is meant to be shared read-only
    _say(f"building test image {SUITE}-{cache_key()} (first run only, ~1-2 min)")
    rootfs = tmp / "rootfs"
    mmdebstrap(rootfs, PACKAGES, debian_mirror(), SUITE,
               hooks=[("essential", _ESSENTIAL_HOOK), ("customize", _CUSTOMIZE_HOOK)])
    kver = _copy_boot_files(rootfs, tmp)
    _make_disk(rootfs, tmp / "disk.raw")
    shutil.rmtree(rootfs)
    return {"suite": SUITE, "packages": list(PACKAGES), "recipe_version": RECIPE_VERSION,
            "kernel_version": kver, "mirror": debian_mirror()}


def _copy_boot_files(rootfs: Path, dest: Path) -> str:
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise BuildError(f"expected one kernel in {rootfs}/boot, found {kernels}")
    kver = kernels[0].name.removeprefix("vmlinuz-")
    initrd = rootfs / "boot" / f"initrd.img-{kver}"
    if not initrd.is_file():
        raise BuildError(f"no initrd for kernel {kver} in {rootfs}/boot")
    shutil.copyfile(kernels[0], dest / "vmlinuz")
    shutil.copyfile(initrd, dest / "initrd.img")
    return kver


def _make_disk(rootfs: Path, disk: Path) -> None:
    # mkfs.ext4 -d copies the tree into the new filesystem: no loop mount needed.
    with open(disk, "wb") as f:
        f.truncate(DISK_SIZE)
    run(["mkfs.ext4", "-q", "-F", "-L", "seedbed-root", "-d", str(rootfs), str(disk)], "mkfs.ext4")


def _say(msg: str) -> None:
    log.info(msg)
    print(f"[seedbed-image] {msg}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    img = build_test_image()
    print(json.dumps(img.manifest, indent=2))
