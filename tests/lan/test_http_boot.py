"""UEFI HTTP boot with Secure Boot on: OVMF (Microsoft keys, PXE turned off) asks as an
HTTPClient on the test LAN, seedbed's full-mode dnsmasq answers with the signed shim's URL,
shim fetches the signed GRUB beside it over HTTP, and GRUB (Debian 13's 2.12) boots the
Debian-signed test kernel: no TFTP anywhere."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from boot.image import build_test_image
from boot.signed_parts import SHIM, grub_212
from secureboot.iso import make_iso
from seedbed.artifacts import import_iso
from support import place_file

from .conftest import NODE_MAC, SERVER_IP, lan_inventory
from .netns import TestLan
from .test_lan_boot import PORT, TapGuest, _serve

pytestmark = pytest.mark.boot

RELEASE = "debian-signed-test"
KERNEL_TIMEOUT = 300  # power-on -> the signed kernel's Secure Boot line (TCG)
# OVMF tries PXE before HTTP on the same NIC: off, so only HTTP boot can succeed.
NO_PXE = ["-fw_cfg", "name=opt/org.tianocore/IPv4PXESupport,string=n",
          "-fw_cfg", "name=opt/org.tianocore/IPv6PXESupport,string=n"]


@pytest.fixture
def tftp_root() -> Iterator[Path]:
    """dnsmasq reads TFTP as its own user, which cannot enter pytest's 0700 folders."""
    root = Path(tempfile.mkdtemp(prefix="seedbed-tftp-"))
    root.chmod(0o755)
    for name in ("undionly.kpxe", "ipxe.efi"):
        shutil.copyfile(Path("/usr/lib/ipxe") / name, root / name)
    yield root
    shutil.rmtree(root, ignore_errors=True)


def test_uefi_http_boot_gets_shim_over_http_to_the_signed_kernel(netns_lan: TestLan, tmp_path: Path,
                                                                tftp_root: Path) -> None:
    image = build_test_image()
    files = tmp_path / "state" / "files"
    place_file(image.kernel, files / "test" / "vmlinuz")
    place_file(image.initrd, files / "test" / "initrd.img")
    iso = make_iso(tmp_path / f"{RELEASE}.iso", {
        "casper/vmlinuz": image.kernel, "casper/initrd": image.initrd,
        "EFI/boot/bootx64.efi": SHIM, "EFI/boot/grubx64.efi": grub_212()})
    import_iso(iso, files, RELEASE)
    data = lan_inventory("full", port=PORT, grub_config="http", tftp_root=str(tftp_root))
    data["installer"] = {"release": RELEASE, "iso": f"http://{SERVER_IP}:{PORT}/files/unused.iso"}
    data["profiles"] = {"debian-test": {"kernel": "test/vmlinuz", "initrd": "test/initrd.img",
                                        "cmdline": "console=ttyS0 panic=-1", "seed": "cloud-config"}}
    data["nodes"][0].update(secure_boot=True, profile="debian-test")
    state = _serve(netns_lan, tmp_path, data)
    conf = (state / "dnsmasq" / "dnsmasq.conf").read_text()
    shim_url = f"http://{SERVER_IP}:{PORT}/files/releases/{RELEASE}/EFI/boot/bootx64.efi"
    assert f"dhcp-boot=tag:efihttp,tag:sb,{shim_url}" in conf, conf

    tap = netns_lan.add_tap("tap0")
    g = TapGuest(tmp_path / "guest", netns=netns_lan.server, tap=tap, mac=NODE_MAC,
                 firmware="uefi-secure", romfile="", extra_args=NO_PXE)
    g.start()
    try:
        g.wait_for_console(r"secureboot: Secure boot enabled", KERNEL_TIMEOUT,
                           "signed kernel did not start over UEFI HTTP boot")
    finally:
        g.stop()
    log = (tmp_path / "seedbed.log").read_text()
    release = f"/files/releases/{re.escape(RELEASE)}/EFI/boot/"
    # shim asks for GRUB beside itself (with a doubled slash), GRUB for its bootstrap, then
    # this machine's config and the kernel: all over HTTP.
    for path in (f"{release}bootx64\\.efi", f"{release}/?grubx64\\.efi", "/grub/grub\\.cfg", "/grub",
                 "/files/test/vmlinuz", "/files/test/initrd\\.img"):
        assert re.search(rf" GET {path} 20[06] ", log), f"{path} not fetched:\n{log[-2000:]}"
    assert "HTTPv4" in g.console_text()  # the firmware's HTTP boot option, not PXE
