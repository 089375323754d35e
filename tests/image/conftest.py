"""Fixtures for the golden image tests: the Debian base disk, the deploy ramdisk and a
real `packer build` of the golden image from that base (session-wide, built once).

Base disk and ramdisk are cached by their inputs next to the boot harness's cache;
the Packer build itself runs every session (it is what these tests check).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from boot.conftest import boot_requirements, boot_timings, guest  # noqa: F401 - fixtures by name
from boot.image import debian_mirror, default_cache_root
from seedbed.deploy import golden
from seedbed.deploy.build import manifest
from seedbed.deploy.ramdisk import build_ramdisk

from .base import BaseDisk, build_base_disk

HERE = Path(__file__).parent
REPO = HERE.parent.parent
# command -> Debian package, beyond the boot harness's list
REQUIRED = {"packer": "packer", "sfdisk": "fdisk", "mkfs.vfat": "dosfstools", "mcopy": "mtools",
            "jq": "jq", "debugfs": "e2fsprogs", "zstd": "zstd", "mmdebstrap": "mmdebstrap"}
# The test build's provisioning: Docker's and NVIDIA's repositories are not reachable here.
TEST_PROVISION_ENV = ("SEEDBED_VENDOR_REPOS=no",)


def cache_root() -> Path:
    return default_cache_root() / "golden"


def missing_tools() -> dict[str, str]:
    return {cmd: pkg for cmd, pkg in REQUIRED.items() if shutil.which(cmd) is None}


@pytest.fixture(scope="session")
def image_requirements(boot_requirements: None) -> None:  # noqa: F811
    missing = missing_tools()
    if missing:
        pkgs = " ".join(sorted(set(missing.values())))
        pytest.fail(f"golden image tests need: {', '.join(missing)} (apt-get install {pkgs})",
                    pytrace=False)


@pytest.fixture(scope="session")
def base_disk(image_requirements: None, boot_timings: dict) -> BaseDisk:  # noqa: F811
    base = build_base_disk(cache_root())
    boot_timings.setdefault("golden", {})["base_disk_build_seconds"] = base.manifest["build_seconds"]
    return base


@pytest.fixture(scope="session")
def deploy_ramdisk(image_requirements: None, boot_timings: dict) -> Path:  # noqa: F811
    """The cached ramdisk entry (vmlinuz, initrd.img), with the small cloud kernel."""
    entry = build_ramdisk(cache_root(), "linux-image-cloud-amd64", debian_mirror())
    boot_timings.setdefault("golden", {})["ramdisk_build_seconds"] = manifest(entry)["build_seconds"]
    return entry


@pytest.fixture(scope="session")
def golden_image(base_disk: BaseDisk, tmp_path_factory: pytest.TempPathFactory,
                 boot_timings: dict) -> golden.GoldenImage:  # noqa: F811
    """`python -m seedbed.deploy.golden --source debian`, for real: Packer, TCG, SSH.

    SEEDBED_GOLDEN_REUSE=DIR (development only) reuses the work folder of a finished
    build instead of building again; CI never sets it.
    """
    reuse = os.environ.get("SEEDBED_GOLDEN_REUSE")
    if reuse:
        out = Path(reuse) / "output"
        name = golden.IMAGE_NAME
        return golden.GoldenImage(out / f"{name}.qcow2", out / f"{name}.raw.zst",
                                  out / f"{name}.raw.zst.sha256", 0.0)
    work = tmp_path_factory.mktemp("golden-build")
    request = golden.BuildRequest(
        source="debian", inventory=REPO / "examples" / "lab.yaml", work=work,
        base_disk=base_disk.disk, base_disk_checksum=f"sha256:{base_disk.sha256}",
        build_key=base_disk.key, provision_env=TEST_PROVISION_ENV, accelerator="tcg",
        zstd_level=3, memory=1024, timeout=15 * 60)
    started = time.monotonic()
    try:
        image = golden.build(request)
    except RuntimeError as exc:
        pytest.fail(f"stage 'packer build': {exc}\n--- serial tail ---\n"
                    f"{_tail(work / 'serial.log')}", pytrace=False)
    timings = boot_timings.setdefault("golden", {})
    timings["packer_build_seconds"] = round(time.monotonic() - started, 1)
    timings["image_zst_bytes"] = image.raw_zst.stat().st_size
    return image


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(none)"
