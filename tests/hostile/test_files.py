"""The files folder never leaves its root; the state folder and database are private."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from seedbed.service import Seedbed, Settings
from seedbed.web import create_app
from support import inventory_data, write_inventory


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _private_state(service: Seedbed) -> list[Path]:
    """The files an attacker wants: the database and the service's SSH private key."""
    key = service.settings.state_dir / "ssh" / "id_ed25519"
    key.parent.mkdir(exist_ok=True)
    key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n")
    return [service.store.path, key]


def test_symlinks_out_of_the_folder_are_refused(service, client, tmp_path: Path) -> None:  # noqa: ANN001
    """Before: a link to the SSH private key or the SQLite file was served."""
    files = service.settings.artifacts
    files.mkdir(parents=True)
    outside = tmp_path / "outside.txt"
    outside.write_text("not an artifact")
    targets = [*_private_state(service), outside, service.settings.state_dir]
    for i, target in enumerate(targets):
        (files / f"link{i}").symlink_to(target)
        (files / f"dir{i}").symlink_to(target.parent)
        for url in (f"/files/link{i}", f"/files/dir{i}/{target.name}"):
            assert client.get(url).status_code == 404, f"{url} -> {target} was served"
    (files / "real.bin").write_bytes(b"kernel")
    (files / "alias.bin").symlink_to(files / "real.bin")  # a link that stays inside is fine
    (files / "sub").mkdir()
    (files / "sub" / "up.bin").symlink_to("../real.bin")
    for url in ("/files/real.bin", "/files/alias.bin", "/files/sub/up.bin"):
        assert client.get(url).data == b"kernel", url


@pytest.mark.parametrize("files_dir", ["state", "parent"])
def test_state_is_never_served_even_inside_the_files_folder(tmp_path: Path, clock,  # noqa: ANN001
                                                            files_dir: str) -> None:
    state = tmp_path / "srv" / "state"
    root = state if files_dir == "state" else state.parent
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    service = Seedbed(Settings(inventory, state, files_dir=root, reload_seconds=0), clock)
    client = create_app(service).test_client()
    for secret in _private_state(service):
        url = "/files/" + str(secret.relative_to(root))
        assert client.get(url).status_code == 404, f"{url} was served"
    (state / "files").mkdir()
    (state / "files" / "k").write_bytes(b"k")
    assert client.get("/files/" + str((state / "files" / "k").relative_to(root))).data == b"k"


def test_state_folder_and_database_are_private(service, client) -> None:  # noqa: ANN001
    """Before: the SQLite file was created 0644."""
    client.get("/ipxe?mac=52:54:00:00:00:01")  # a write: the WAL and shared-memory files exist
    db = service.store.path
    assert _mode(service.settings.state_dir) == 0o700
    for path in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")):
        assert path.exists() and _mode(path) == 0o600, f"{path.name} is {_mode(path):o}"


def test_existing_state_is_made_private(tmp_path: Path, clock) -> None:  # noqa: ANN001
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    db = state / "seedbed.sqlite3"
    db.touch()
    os.chmod(db, 0o644)
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    Seedbed(Settings(inventory, state, reload_seconds=0), clock)
    assert _mode(state) == 0o700 and _mode(db) == 0o600
