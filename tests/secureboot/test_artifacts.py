"""`seedbed artifacts import` on an ISO built here with xorriso, and the inventory's release."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from seedbed.artifacts import ArtifactError, import_iso
from seedbed.inventory import parse_inventory
from support import inventory_data, write_inventory

from .iso import make_iso, sha256, sums_file

RELEASE = "ubuntu-24.04.1-live-server-amd64"


@pytest.fixture
def parts(tmp_path: Path) -> dict[str, Path]:
    made = {}
    for name in ("casper/vmlinuz", "casper/initrd", "EFI/boot/bootx64.efi", "EFI/boot/grubx64.efi"):
        path = tmp_path / "parts" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"{name} content ".encode() * 1000)
        made[name] = path
    return made


@pytest.fixture
def iso(tmp_path: Path, parts: dict[str, Path]) -> Path:
    return make_iso(tmp_path / f"{RELEASE}.iso", parts)


def seedbed(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "seedbed.cli", *args], capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_import_writes_the_release_and_a_manifest_of_hashes(tmp_path: Path, iso: Path,
                                                             parts: dict[str, Path]) -> None:
    files = tmp_path / "files"
    done = seedbed("artifacts", "import", str(iso), "--sha256SUMS",
                   str(sums_file(tmp_path / "SHA256SUMS", iso)), "--files", str(files))
    assert done.returncode == 0, done.stderr
    folder = files / "releases" / RELEASE
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["iso"] == {"name": iso.name, "sha256": sha256(iso)}
    for name, source in parts.items():
        assert (folder / name).read_bytes() == source.read_bytes(), name
        assert manifest["files"][name] == {"sha256": sha256(source), "size": source.stat().st_size}
    assert sorted(p.name for p in (files / "releases").iterdir()) == [RELEASE]  # no staging left

    stamp = (folder / "manifest.json").stat().st_mtime_ns
    again = seedbed("artifacts", "import", str(iso), "--files", str(files))
    assert again.returncode == 0 and "already in" in again.stdout, again.stdout
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp  # nothing rewritten


def test_a_wrong_checksum_leaves_nothing_behind(tmp_path: Path, iso: Path) -> None:
    files = tmp_path / "files"
    sums = sums_file(tmp_path / "SHA256SUMS", iso, digest="ab" * 32)
    done = seedbed("artifacts", "import", str(iso), "--sha256SUMS", str(sums), "--files", str(files))
    assert done.returncode == 1
    assert "does not match" in done.stderr and "nothing imported" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (files / "releases" / RELEASE).exists()
    assert not any((files / "releases").iterdir()) if (files / "releases").exists() else True


def test_a_changed_iso_replaces_the_release_whole(tmp_path: Path, parts: dict[str, Path]) -> None:
    files = tmp_path / "files"
    first = import_iso(make_iso(tmp_path / "a.iso", parts), files, RELEASE)
    parts["casper/initrd"].write_bytes(b"a newer initrd")
    second = import_iso(make_iso(tmp_path / "b.iso", parts), files, RELEASE)
    assert first.changed and second.changed
    assert second.manifest["files"]["casper/initrd"]["sha256"] == sha256(parts["casper/initrd"])
    assert (files / "releases" / RELEASE / "casper/initrd").read_bytes() == b"a newer initrd"


def test_an_iso_without_the_layout_is_refused(tmp_path: Path, parts: dict[str, Path]) -> None:
    del parts["EFI/boot/grubx64.efi"]
    with pytest.raises(ArtifactError, match="has no EFI/boot/grubx64.efi"):
        import_iso(make_iso(tmp_path / "x.iso", parts), tmp_path / "files")
    assert not (tmp_path / "files" / "releases" / "x").exists()


def test_the_inventory_names_the_release_and_validate_wants_it_imported(tmp_path: Path,
                                                                        iso: Path) -> None:
    data = inventory_data(installer={"release": RELEASE, "iso": "http://10.20.0.5:8080/files/u.iso"})
    inv = parse_inventory(yaml.safe_dump(data)).inventory
    assert inv.installer.kernel == f"releases/{RELEASE}/casper/vmlinuz"
    assert inv.installer.initrd == f"releases/{RELEASE}/casper/initrd"
    path = write_inventory(tmp_path / "lab.yaml", data)
    files = tmp_path / "files"
    refused = seedbed("validate", str(path), "--files", str(files))
    assert refused.returncode == 1
    assert f"seedbed artifacts import ISO --files {files} --release {RELEASE}" in refused.stderr
    import_iso(iso, files)
    accepted = seedbed("validate", str(path), "--files", str(files))
    assert accepted.returncode == 0, accepted.stderr

    both = inventory_data(installer={"release": RELEASE, "kernel": "x/vmlinuz",
                                     "iso": "http://10.20.0.5:8080/files/u.iso"})
    with pytest.raises(Exception, match="give release or kernel/initrd, not both"):
        parse_inventory(yaml.safe_dump(both))
