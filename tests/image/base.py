"""The Debian bookworm base disk the test build of the golden image starts from.

Stands in for the Ubuntu live-server install (unreachable here): a UEFI-bootable
GPT disk (ESP with systemd-boot, ext4 root labelled seedbed-root) with cloud-init,
sshd and a build user `seedbed-build` that logs in with a throwaway key made at
image-build time (the cleanup deletes the user). Built without loop mounts:
mkfs.ext4 -d and mtools fill the partitions, dd places them. Cached by inputs.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from boot.image import debian_mirror
from seedbed.deploy.build import cached, input_key, manifest, mmdebstrap, run

RECIPE_VERSION = "2"
BUILD_USER = "seedbed-build"
ESP_MIB = 96
ROOT_MIB = 832
DISK_MIB = 1 + ESP_MIB + ROOT_MIB + 1  # GPT at both ends
ROOT_LABEL = "seedbed-root"
CMDLINE = f"root=LABEL={ROOT_LABEL} rw console=ttyS0 net.ifnames=0"
PACKAGES = ("systemd", "systemd-sysv", "udev", "dbus", "linux-image-cloud-amd64",
            "initramfs-tools", "cloud-init", "openssh-server", "sudo", "curl", "ca-certificates",
            "gnupg", "python3", "iproute2", "ifupdown", "isc-dhcp-client", "netbase",
            "systemd-boot-efi", "e2fsprogs")
# Build-only network config (cleanup.sh removes it; cloud-init writes the clone's own).
BUILD_NETWORK = "/etc/network/interfaces.d/60-seedbed-build"

_ESSENTIAL_HOOK = r"""
mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/usr/share/initramfs-tools/modules.d"
echo MODULES=most > "$1/etc/initramfs-tools/conf.d/seedbed.conf"
printf '%s\n' virtio_pci virtio_blk virtio_net ext4 > "$1/usr/share/initramfs-tools/modules.d/seedbed"
"""
_CUSTOMIZE_HOOK = r"""
echo 'LABEL=seedbed-root / ext4 rw,errors=remount-ro 0 1' > "$1/etc/fstab"
echo seedbed-golden > "$1/etc/hostname"
printf '127.0.0.1 localhost\n127.0.1.1 seedbed-golden\n' > "$1/etc/hosts"
printf 'auto lo\niface lo inet loopback\nsource /etc/network/interfaces.d/*\n' > "$1/etc/network/interfaces"
printf 'allow-hotplug eth0\niface eth0 inet dhcp\n' > "$1/etc/network/interfaces.d/60-seedbed-build"
for unit in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer; do
  chroot "$1" systemctl mask "$unit" >/dev/null 2>&1 || true
done
chroot "$1" useradd --create-home --shell /bin/bash seedbed-build
echo 'seedbed-build ALL=(ALL) NOPASSWD:ALL' > "$1/etc/sudoers.d/90-seedbed-build"
chmod 0440 "$1/etc/sudoers.d/90-seedbed-build"
# A small test image: the provisioning steps install their packages without Recommends.
echo 'APT::Install-Recommends "false";' > "$1/etc/apt/apt.conf.d/90seedbed-test-no-recommends"
"""


@dataclass(frozen=True)
class BaseDisk:
    disk: Path  # raw GPT disk image; read-only, copy before use
    key: Path  # the build user's throwaway private key
    user: str
    sha256: str
    manifest: dict


def build_base_disk(cache_root: Path) -> BaseDisk:
    key = input_key(RECIPE_VERSION, *PACKAGES, _ESSENTIAL_HOOK, _CUSTOMIZE_HOOK, CMDLINE,
                    str(ESP_MIB), str(ROOT_MIB))
    entry = cached(cache_root, "debian-base", key, _build)
    info = manifest(entry)
    return BaseDisk(entry / "disk.raw", entry / "build_key", BUILD_USER, info["sha256"], info)


def _build(tmp: Path) -> dict:
    rootfs = tmp / "rootfs"
    mmdebstrap(rootfs, PACKAGES, debian_mirror(),
               hooks=[("essential", _ESSENTIAL_HOOK), ("customize", _CUSTOMIZE_HOOK)])
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "seedbed-build (throwaway)",
         "-f", str(tmp / "build_key")], "ssh-keygen")
    _authorize(rootfs, (tmp / "build_key.pub").read_text())
    kernel = sorted((rootfs / "boot").glob("vmlinuz-*"))[-1]
    initrd = rootfs / "boot" / kernel.name.replace("vmlinuz-", "initrd.img-")
    _make_esp(tmp / "esp.img", rootfs, kernel, initrd)
    run(["mkfs.ext4", "-q", "-F", "-L", ROOT_LABEL, "-d", str(rootfs), str(tmp / "root.img"),
         f"{ROOT_MIB}M"], "mkfs.ext4")
    used = run(["du", "-sm", str(rootfs)], "du").split()[0]
    shutil.rmtree(rootfs)
    _assemble(tmp / "disk.raw", tmp / "esp.img", tmp / "root.img")
    digest = run(["sha256sum", str(tmp / "disk.raw")], "sha256sum").split()[0]
    return {"packages": list(PACKAGES), "kernel": kernel.name, "rootfs_mib": int(used),
            "disk_mib": DISK_MIB, "sha256": digest, "mirror": debian_mirror()}


def _authorize(rootfs: Path, public_key: str) -> None:
    ssh = rootfs / "home" / BUILD_USER / ".ssh"
    ssh.mkdir(mode=0o700)
    (ssh / "authorized_keys").write_text(public_key)
    uid_gid = run(["chroot", str(rootfs), "id", "-u", BUILD_USER], "id").strip()
    for path in (ssh, ssh / "authorized_keys"):
        os.chown(path, int(uid_gid), int(uid_gid))
    (ssh / "authorized_keys").chmod(0o600)


def _make_esp(esp: Path, rootfs: Path, kernel: Path, initrd: Path) -> None:
    run(["mkfs.vfat", "-F", "32", "-n", "ESP", "-C", str(esp), str(ESP_MIB * 1024)], "mkfs.vfat")
    efi = rootfs / "usr/lib/systemd/boot/efi/systemd-bootx64.efi"
    entry = esp.parent / "debian.conf"
    entry.write_text(f"title Debian (seedbed golden test image)\nlinux /vmlinuz\n"
                     f"initrd /initrd.img\noptions {CMDLINE}\n")
    loader = esp.parent / "loader.conf"
    loader.write_text("default debian.conf\ntimeout 0\n")
    env = {**os.environ, "MTOOLS_SKIP_CHECK": "1"}
    img = f"-i{esp}"
    for folder in ("::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries"):
        run(["mmd", img, folder], "mmd", env=env)
    for src, dst in ((efi, "::/EFI/BOOT/BOOTX64.EFI"), (kernel, "::/vmlinuz"),
                     (initrd, "::/initrd.img"), (loader, "::/loader/loader.conf"),
                     (entry, "::/loader/entries/debian.conf")):
        run(["mcopy", img, str(src), dst], "mcopy", env=env)
    entry.unlink()
    loader.unlink()


def _assemble(disk: Path, esp: Path, root: Path) -> None:
    with disk.open("wb") as f:
        f.truncate(DISK_MIB * 2**20)
    layout = (f"label: gpt\nstart=1MiB, size={ESP_MIB}MiB, type=uefi, name=ESP\n"
              f"start={1 + ESP_MIB}MiB, size={ROOT_MIB}MiB, type=linux, name=root\n")
    subprocess.run(["sfdisk", "-q", str(disk)], input=layout, text=True, check=True,
                   capture_output=True, timeout=60)
    for image, start_mib in ((esp, 1), (root, 1 + ESP_MIB)):
        run(["dd", f"if={image}", f"of={disk}", "bs=1M", f"seek={start_mib}", "conv=notrunc,sparse",
             "status=none"], "dd")
        image.unlink()
