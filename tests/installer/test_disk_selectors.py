"""One inventory `disk:` value, the same disk for both consumers (section 2 of issue 9).

The installer side runs in test_installer_seeds.py (subiquity's dry-run on these
machines); here the deploy ramdisk side runs its real selection program
(packer/deploy/select-disk.jq, with jq, as its init does) on the lsblk view of the
same described disks, and `seedbed validate` judges the selectors.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from seedbed.cli import main
from seedbed.disks import installer_match, ramdisk_selector, selector_warnings
from seedbed.inventory import DiskSelector, load_inventory
from seedbed.resources import default_inventory
from support import inventory_data, write_inventory

from .machines import WORKSTATION, Machine
from .test_installer_seeds import CORPUS, EXAMPLE_DISKS

SELECT_DISK = Path(__file__).resolve().parents[2] / "packer" / "deploy" / "select-disk.jq"


def ramdisk_pick(machine: Machine, selector: DiskSelector) -> dict[str, Any]:
    """What the deploy ramdisk's init picks: lsblk's JSON through select-disk.jq."""
    result = subprocess.run(
        ["jq", "-c", "--argjson", "sel", json.dumps(ramdisk_selector(selector)), "--arg", "resolved", "",
         "-f", str(SELECT_DISK)], input=json.dumps(machine.lsblk()), capture_output=True, text=True,
        timeout=30, check=True)
    return json.loads(result.stdout)


def example_selectors() -> dict[str, DiskSelector]:
    inv = load_inventory(default_inventory()).inventory
    return {n.hostname: n.disk for n in inv.nodes}


@pytest.mark.parametrize("hostname", sorted(EXAMPLE_DISKS))
def test_ramdisk_picks_the_disk_the_installer_picks_for_example_nodes(hostname: str) -> None:
    picked = ramdisk_pick(WORKSTATION, example_selectors()[hostname])
    assert picked == {"disk": EXAMPLE_DISKS[hostname]}


@pytest.mark.parametrize("hostname, selector, machine, disk", [c[:4] for c in CORPUS])
def test_ramdisk_picks_the_disk_the_installer_picks_for_the_corpus(
        hostname: str, selector: dict[str, Any], machine: Machine, disk: str) -> None:
    assert ramdisk_pick(machine, DiskSelector(**selector)) == {"disk": disk}, hostname


def test_serial_is_kept_as_the_admin_wrote_it_and_globbed_for_udev() -> None:
    selector = DiskSelector(serial="S5GXNF0R100002")
    assert ramdisk_selector(selector) == {"serial": "S5GXNF0R100002"}
    assert installer_match(selector) == {"serial": "*_S5GXNF0R100002"}
    udev = WORKSTATION.disk("nvme1n1").udev()
    assert udev["ID_SERIAL"] == "Samsung SSD 980 PRO 1TB_S5GXNF0R100002"


def test_model_glob_accepts_nvme_spaces_and_sata_underscores() -> None:
    assert installer_match(DiskSelector(model="Samsung SSD 870 EVO 1TB")) == {
        "model": "Samsung[ _]SSD[ _]870[ _]EVO[ _]1TB"}
    assert WORKSTATION.disk("sda").udev()["ID_MODEL"] == "Samsung_SSD_870_EVO_1TB"


@pytest.mark.parametrize("disk, warning", [
    ({"vendor": "ATA"}, "vendor 'ATA' alone does not pin one disk"),
    ({"ssd": True, "size": "smallest"}, "a USB stick or card reader included"),
    ({"size": "largest"}, "a USB stick or card reader included"),
    ({"path": "/dev/disk/by-id/nvme-Samsung_SSD_980_PRO_1TB_S5GXNF0R100002"},
     "is a udev link: the installer matches only kernel names"),
    ({"serial": "Samsung_SSD_870_EVO_1TB_S6PTNZ0R123456"}, "looks like udev's ID_SERIAL"),
])
def test_validate_warns_when_a_selector_cannot_pin_one_disk(
        tmp_path: Path, capsys: pytest.CaptureFixture, disk: dict[str, Any], warning: str) -> None:
    data = inventory_data()
    data["nodes"][1]["disk"] = disk
    inventory = write_inventory(tmp_path / "lab.yaml", data)
    assert main(["validate", str(inventory)]) == 0
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if "nodes[1].disk: " in ln]
    assert len(lines) == 1 and warning in lines[0], err


@pytest.mark.parametrize("disk", [{"serial": "S5GXNF0R100002"}, {"model": "Samsung SSD 980 PRO 1TB"},
                                  {"path": "/dev/nvme0n1", "ssd": True},
                                  {"serial": "S5GX*", "size": "largest"}])
def test_selectors_that_pin_a_disk_raise_no_warning(disk: dict[str, Any]) -> None:
    assert selector_warnings(DiskSelector(**disk)) == []


def test_example_inventory_warns_only_about_its_size_selectors() -> None:
    text = yaml.safe_dump([str(w) for w in load_inventory(default_inventory()).warnings])
    assert "nodes[2].disk: size: largest" in text and "nodes[3].disk: size: smallest" in text
    assert "nodes[0]" not in text and "nodes[1]" not in text
