"""`seedbed render|nodes|events|validate` only look: the state folder is byte for byte,
name for name and mtime for mtime what it was, and an absent one stays absent."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from seedbed.cli import main
from seedbed.cluster.sshkey import ensure_service_key
from seedbed.service import Seedbed
from support import inventory_data, seed_token, write_inventory

MAC1 = "52:54:00:00:00:01"

# Every command that must only look, with what it prints when it works (0) or refuses (1).
READ_ONLY = [
    (["render", "ipxe", "--mac", MAC1], 0),
    (["render", "grub", "--mac", MAC1], 0),
    (["render", "user-data", "--mac", MAC1], 0),
    (["render", "cloud-config", "--mac", MAC1], 0),
    (["render", "meta-data", "--mac", MAC1], 0),
    (["render", "vendor-data", "--mac", MAC1], 0),
    (["render", "provision", "--mac", MAC1], 0),
    (["render", "provision", "--image"], 0),
    (["render", "ipxe", "--mac", "52:54:00:00:00:99"], 0),
    (["render", "user-data", "--mac", "52:54:00:00:00:99"], 1),
    (["render", "dnsmasq"], 0),
    (["render", "hosts"], 0),
    (["render", "sssd"], 1),
    (["render", "cluster-yml"], 0),
    (["render", "cluster-yml", "--ready"], 1),
    (["render", "rke2-config", "--mac", MAC1], 0),
    (["render", "rke2-config", "--mac", MAC1, "--show-secrets"], 0),
    (["nodes"], 0),
    (["events", "gpu01"], 0),
    (["events", "nosuch"], 1),
]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every name under `root` (the folder itself too) with its kind, mode, size, mtime and,
    for files, a digest of its bytes."""
    if not root.exists():
        return {}
    found = {}
    for path in [root, *sorted(root.rglob("*"))]:
        st = path.lstat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        found[str(path.relative_to(root))] = (st.st_mode, st.st_size, st.st_mtime_ns, digest)
    return found


@pytest.fixture
def used_state(service: Seedbed, client, tmp_path: Path) -> Path:  # noqa: ANN001
    """A state folder as a running service leaves it: an install begun, a seed fetched, an
    unknown machine seen, the service key made; the service then stopped."""
    token = seed_token(client.get(f"/ipxe?mac={MAC1}").text)
    assert client.get(f"/seed/{token}/user-data").status_code == 200
    assert client.get("/ipxe?mac=52:54:00:00:00:77").status_code == 200
    ensure_service_key(service.settings.state_dir)
    service.stop()
    service.store.close()  # the last connection out checkpoints the WAL, as at process exit
    state = service.settings.state_dir
    assert (state / "seedbed.sqlite3").is_file() and not (state / "seedbed.sqlite3-wal").exists()
    return state


def run(capsys: pytest.CaptureFixture[str], inventory: Path, state: Path, argv: list[str]
        ) -> tuple[int, str, str]:
    rc = main([*argv, "--inventory", str(inventory), "--state", str(state)])
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.mark.parametrize(("argv", "status"), READ_ONLY, ids=[" ".join(a) for a, _ in READ_ONLY])
def test_a_used_state_folder_is_left_as_it_was(used_state: Path, service: Seedbed,
                                               capsys: pytest.CaptureFixture[str],
                                               argv: list[str], status: int) -> None:
    before = snapshot(used_state)
    rc, out, err = run(capsys, service.settings.inventory_path, used_state, argv)
    assert rc == status, err
    assert snapshot(used_state) == before, f"seedbed {' '.join(argv)} changed the state folder"
    if argv[:2] == ["render", "ipxe"] and argv[3] == MAC1:
        assert "is installing" not in out and "install #" not in out  # a preview begins nothing
    if argv == ["events", "gpu01"]:
        assert "seed user-data fetched" in out  # it read the store that is there


@pytest.mark.parametrize(("argv", "status"), READ_ONLY, ids=[" ".join(a) for a, _ in READ_ONLY])
def test_an_absent_state_folder_stays_absent(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                             argv: list[str], status: int) -> None:
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    state = tmp_path / "no-state-yet"
    rc, out, err = run(capsys, inventory, state, argv)
    assert rc == status, err
    assert not state.exists(), f"seedbed {' '.join(argv)} created {sorted(os.listdir(state))}"
    if argv == ["render", "ipxe", "--mac", MAC1]:
        assert "seedbed install" in out or "kernel" in out  # a new node is armed, as serve would see it


def test_validate_needs_no_state(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    before = snapshot(tmp_path)
    assert main(["validate", str(inventory)]) == 0, capsys.readouterr().err
    assert snapshot(tmp_path) == before


def test_render_zone_writes_only_its_serial(used_state: Path, service: Seedbed,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    """The one exception, by design: the zone's serial is state (secondaries must see it
    rise with every change), kept in STATE/dns/zone-serial.json and nowhere else."""
    before = snapshot(used_state)
    rc, out, err = run(capsys, service.settings.inventory_path, used_state, ["render", "zone"])
    assert rc == 0 and "$ORIGIN lab.test." in out, err
    after = snapshot(used_state)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert changed <= {".", "dns", "dns/zone-serial.json"}, changed
