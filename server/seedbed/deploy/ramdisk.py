"""Build the deploy ramdisk: a Debian kernel plus an initramfs whose /init writes the image.

The initramfs is a small bookworm userland (curl, zstd, pv, jq, sfdisk, e2fsprogs,
util-linux, udev, busybox) installed with mmdebstrap, the kernel's modules, and
the text files under packer/deploy/ (`init`, the disk selector, the DHCP hook, and the
hardware facts a discovery boot reports).

    python -m seedbed.deploy.ramdisk --out build/deploy     # what `make deploy-ramdisk` runs
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

from ..resources import data_dir
from .aptsources import NoMirror, debian_mirror
from .build import BuildError, cached, input_key, manifest, mmdebstrap, run, write_cpio

RECIPE_VERSION = "1"
DEFAULT_KERNEL = "linux-image-amd64"  # drivers for real NICs and disks; the tests use -cloud-
TOOLS = ("busybox", "udev", "kmod", "curl", "ca-certificates", "zstd", "pv", "jq", "fdisk",
         "e2fsprogs", "util-linux", "coreutils", "iproute2")
# The files from packer/deploy/ and where they go in the ramdisk.
FILES = {"init": ("init", 0o755), "select-disk.jq": ("usr/share/seedbed/select-disk.jq", 0o644),
         "udhcpc.script": ("usr/share/seedbed/udhcpc.script", 0o755),
         "facts": ("usr/share/seedbed/facts", 0o755)}
# Drivers a deploy never needs; dropping them keeps the generic kernel's initramfs small.
PRUNED_MODULES = ("drivers/gpu", "drivers/media", "drivers/staging", "drivers/infiniband",
                  "drivers/net/wireless", "drivers/bluetooth", "drivers/iio", "drivers/hid",
                  "drivers/input", "drivers/video", "drivers/isdn", "drivers/comedi",
                  "sound", "net/wireless", "net/mac80211", "net/bluetooth", "net/netfilter",
                  "net/ipv4/netfilter", "net/ipv6/netfilter", "net/sched", "net/ceph",
                  "fs/nfs", "fs/nfsd", "fs/ceph", "fs/smb", "fs/cifs", "fs/ocfs2", "fs/gfs2",
                  "fs/dlm", "fs/ubifs", "fs/jfs", "fs/nilfs2", "fs/afs", "fs/9p")
# Userland the init never runs: perl (pulled in by the kernel's packaging), apt, charset
# converters, the hardware database, locales and docs.
PRUNED_FILES = ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale",
                "usr/share/perl", "usr/share/perl5", "usr/share/zoneinfo", "usr/share/i18n",
                "usr/lib/x86_64-linux-gnu/perl", "usr/lib/x86_64-linux-gnu/perl5",
                "usr/lib/x86_64-linux-gnu/perl-base", "usr/lib/x86_64-linux-gnu/gconv",
                "usr/lib/udev/hwdb.bin", "usr/lib/udev/hwdb.d", "usr/lib/apt", "var/cache/apt",
                "var/lib/apt/lists", "var/cache/debconf", "boot")
# initramfs-tools comes with the kernel; its initrd is not used, so skip generating it.
_NO_INITRAMFS_HOOK = ("essential", 'chroot "$1" dpkg-divert --local --rename --add '
                      '/usr/sbin/update-initramfs && ln -sf /bin/true "$1/usr/sbin/update-initramfs"')


def _sources() -> dict[str, str]:
    folder = data_dir("packer") / "deploy"
    return {name: (folder / name).read_text(encoding="utf-8") for name in FILES}


def build_ramdisk(cache_root: Path, kernel_package: str = DEFAULT_KERNEL,
                  mirror: str | None = None) -> Path:
    """The cached entry holding `vmlinuz` and `initrd.img` (built when its inputs changed)."""
    sources = _sources()
    mirror = mirror or debian_mirror()
    key = input_key(RECIPE_VERSION, kernel_package, *TOOLS, *PRUNED_MODULES, *PRUNED_FILES,
                    _NO_INITRAMFS_HOOK[1],
                    *(f"{name}\n{text}" for name, text in sorted(sources.items())))
    return cached(cache_root, "deploy-ramdisk",
                  key, lambda tmp: _build(tmp, kernel_package, mirror, sources))


def _build(tmp: Path, kernel_package: str, mirror: str, sources: dict[str, str]) -> dict:
    rootfs = tmp / "rootfs"
    mmdebstrap(rootfs, (*TOOLS, kernel_package), mirror, hooks=[_NO_INITRAMFS_HOOK])
    kernels = sorted((rootfs / "boot").glob("vmlinuz-*"))
    if len(kernels) != 1:
        raise BuildError(f"deploy ramdisk: expected one kernel in /boot, found {kernels}")
    kver = kernels[0].name.removeprefix("vmlinuz-")
    shutil.copyfile(kernels[0], tmp / "vmlinuz")
    _slim(rootfs, kver)
    for name, (target, mode) in FILES.items():
        path = rootfs / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(sources[name], encoding="utf-8")
        path.chmod(mode)
    run(["chroot", str(rootfs), "depmod", "-a", kver], "depmod")
    write_cpio(rootfs, tmp / "initrd.cpio")
    # The kernel unpacks zstd initramfs natively (Debian: CONFIG_RD_ZSTD).
    run(["zstd", "-q", "-T0", "-12", "--rm", str(tmp / "initrd.cpio"), "-o", str(tmp / "initrd.img")],
        "zstd initramfs")
    shutil.rmtree(rootfs)
    return {"kernel_package": kernel_package, "kernel_version": kver, "tools": list(TOOLS),
            "initrd_bytes": (tmp / "initrd.img").stat().st_size, "mirror": mirror}


def _slim(rootfs: Path, kver: str) -> None:
    for rel in PRUNED_FILES:
        path = rootfs / rel
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink(missing_ok=True)
    modules = rootfs / "usr/lib/modules" / kver / "kernel"
    if not modules.is_dir():
        modules = rootfs / "lib/modules" / kver / "kernel"
    for rel in PRUNED_MODULES:
        shutil.rmtree(modules / rel, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seedbed.deploy.ramdisk", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True,
                        help="folder to receive vmlinuz and initrd.img (e.g. FILES/deploy)")
    parser.add_argument("--cache", type=Path, default=Path("build/cache"))
    parser.add_argument("--kernel-package", default=DEFAULT_KERNEL)
    parser.add_argument("--mirror", default=None,
                        help="Debian mirror URL (default: the first one in this machine's apt sources)")
    args = parser.parse_args(argv)
    try:
        entry = build_ramdisk(args.cache, args.kernel_package, args.mirror)
    except (BuildError, NoMirror, subprocess.SubprocessError) as exc:
        print(f"deploy ramdisk: {exc}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("vmlinuz", "initrd.img"):
        shutil.copyfile(entry / name, args.out / name)
    info = manifest(entry)
    print(f"deploy ramdisk: {args.out}/vmlinuz, {args.out}/initrd.img "
          f"({info['kernel_version']}, initrd {info['initrd_bytes'] / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
