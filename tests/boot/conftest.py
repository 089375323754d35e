"""Fixtures for QEMU boot tests: the cached test image and a guest factory.

Missing host tools make these tests FAIL with the list of what to install;
boot tests are never skipped silently.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from support import Started

from .image import TestImage, build_test_image
from .qemu import Guest

HERE = Path(__file__).parent

# command or file -> Debian package that provides it
REQUIRED: dict[str, str] = {
    "qemu-system-x86_64": "qemu-system-x86",
    "qemu-img": "qemu-utils",
    "mmdebstrap": "mmdebstrap",
    "mkfs.ext4": "e2fsprogs",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "/usr/lib/ipxe/qemu/pxe-virtio.rom": "ipxe-qemu",  # same package as the ROM QEMU loads
    "/usr/lib/ipxe/qemu/efi-virtio.rom": "ipxe-qemu",
    "/usr/share/ovmf/OVMF.fd": "ovmf",
    "/usr/share/OVMF/OVMF_CODE_4M.ms.fd": "ovmf",  # Secure Boot on, Microsoft keys
    "/usr/lib/shim/shimx64.efi.signed": "shim-signed",
    "/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed": "grub-efi-amd64-signed",
    "xorriso": "xorriso",
}


def missing_requirements() -> dict[str, str]:
    def present(name: str) -> bool:
        return Path(name).exists() if name.startswith("/") else shutil.which(name) is not None

    return {name: pkg for name, pkg in REQUIRED.items() if not present(name)}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "boot: boots QEMU guests (slow; needs qemu, mmdebstrap, root)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # This hook sees every collected item, so only mark the ones under tests/boot.
    for item in items:
        if HERE in Path(item.path).parents:
            item.add_marker(pytest.mark.boot)


@pytest.fixture(scope="session")
def boot_requirements() -> None:
    missing = missing_requirements()
    if missing:
        lines = "\n".join(f"  {name}  (apt-get install {pkg})" for name, pkg in missing.items())
        pkgs = " ".join(sorted(set(missing.values())))
        pytest.fail(
            f"boot tests need these host tools:\n{lines}\ninstall: apt-get install {pkgs}", pytrace=False
        )
    if os.geteuid() != 0:
        pytest.fail("boot tests build the image with mmdebstrap and must run as root", pytrace=False)


@pytest.fixture(scope="session")
def boot_timings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, dict[str, float]]]:
    """Per-test stage timings (seconds), printed and saved as JSON at session end.

    Written to $SEEDBED_BOOT_TIMINGS if set, else boot-timings.json in pytest's basetemp.
    """
    timings: dict[str, dict[str, float]] = {}
    yield timings
    if not timings:
        return
    out = Path(os.environ.get("SEEDBED_BOOT_TIMINGS") or tmp_path_factory.getbasetemp() / "boot-timings.json")
    out.write_text(json.dumps(timings, indent=2) + "\n")
    print(f"\n[boot timings] {out}\n{json.dumps(timings, indent=2)}")


@pytest.fixture(scope="session")
def test_image(boot_requirements: None, boot_timings: dict[str, dict[str, float]]) -> TestImage:
    started = time.monotonic()
    image = build_test_image()
    boot_timings["image"] = {
        "get_seconds": round(time.monotonic() - started, 1),  # ~0 when cached
        "build_seconds": image.manifest.get("build_seconds", 0.0),  # when it was built
    }
    return image


@pytest.fixture
def guest(boot_requirements: None, tmp_path: Path) -> Iterator[Callable[..., Guest]]:
    """Factory: `guest(tftp_dir=..., mac=..., firmware=..., base_disk=...)` returns a
    started Guest whose files (console.log, qemu.log, disk overlay) live in tmp_path;
    every guest is killed at teardown."""
    guests = Started()

    def make(**kwargs: Any) -> Guest:
        return guests.add(Guest(tmp_path / f"guest{len(guests)}", **kwargs))

    yield make
    guests.stop_all()
