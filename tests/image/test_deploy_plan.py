"""Image installs in the service: the deploy ramdisk served from /ipxe, its plan at
/seed/TOKEN/deploy.json, the inventory rules, and the ramdisk's disk selection (jq)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient

from seedbed.inventory import InventoryError
from seedbed.web import create_app
from support import inventory_data, inventory_of, seed_token

REPO = Path(__file__).resolve().parents[2]
SELECT_DISK = REPO / "packer" / "deploy" / "select-disk.jq"
MAC = "52:54:00:00:00:02"  # gpu02 in the support inventory
IMAGE = {"file": "golden/seedbed-golden.raw.zst", "cmdline": "console=ttyS0"}
DIGEST = hashlib.sha256(b"image").hexdigest()


def image_inventory(image: dict[str, Any] | None = None) -> dict[str, Any]:
    data = inventory_data(image=image or IMAGE)
    data["nodes"][1]["install"] = "image"
    data["nodes"][1]["disk"] = {"serial": "SEEDBED-1"}
    return data


@pytest.fixture
def image_client(make_service: Callable, tmp_path: Path) -> FlaskClient:
    service = make_service(image_inventory())
    golden = service.settings.artifacts / "golden"
    golden.mkdir(parents=True)
    (golden / "seedbed-golden.raw.zst.sha256").write_text(f"{DIGEST}  seedbed-golden.raw.zst\n")
    return create_app(service).test_client()


def netboot(client: FlaskClient) -> tuple[str, str]:
    script = client.get(f"/ipxe?mac={MAC}").get_data(as_text=True)
    return script, seed_token(script)


def test_armed_image_node_gets_the_deploy_ramdisk_with_only_its_seed_url(image_client: FlaskClient) -> None:
    script, token = netboot(image_client)
    assert "kernel http://10.20.0.5:8080/files/deploy/vmlinuz initrd=initrd console=ttyS0 " \
           f"ds=nocloud-net;s=http://10.20.0.5:8080/seed/{token}/ BOOTIF=01-52-54-00-00-00-02\n" in script
    assert "initrd --name initrd http://10.20.0.5:8080/files/deploy/initrd.img" in script
    assert "golden" not in script and "SEEDBED-1" not in script  # the rest is in the plan


def test_deploy_plan_carries_image_checksum_disk_and_callbacks(image_client: FlaskClient) -> None:
    _, token = netboot(image_client)
    response = image_client.get(f"/seed/{token}/deploy.json")
    assert response.status_code == 200 and response.content_type == "application/json"
    base = "http://10.20.0.5:8080"
    assert response.get_json() == {
        "version": 1, "hostname": "gpu02",
        "image": {"url": f"{base}/files/golden/seedbed-golden.raw.zst", "sha256": DIGEST,
                  "format": "raw.zst"},
        "disk": {"serial": "SEEDBED-1"}, "root_partition": None,
        "seed": f"{base}/seed/{token}/", "report": f"{base}/api/v1/report/{token}",
        "installed": f"{base}/api/v1/callback/{token}/installed",
        "failed": f"{base}/api/v1/callback/{token}/failed",
    }
    # Written: no second plan (a replayed ramdisk must not overwrite the node again) ...
    assert image_client.post(f"/api/v1/callback/{token}/installed").status_code == 200
    assert image_client.get(f"/seed/{token}/deploy.json").status_code == 403
    # ... but first boot still gets its cloud-config (not an autoinstall document).
    user_data = image_client.get(f"/seed/{token}/user-data").get_data(as_text=True)
    config = yaml.safe_load(user_data)
    assert "autoinstall" not in config and config["hostname"] == "gpu02"
    assert f"/api/v1/callback/{token}/ready" in user_data


def test_missing_checksum_is_refused_with_a_reason(make_service: Callable) -> None:
    client = create_app(make_service(image_inventory())).test_client()
    _, token = netboot(client)
    response = client.get(f"/seed/{token}/deploy.json")
    assert response.status_code == 409
    assert "golden/seedbed-golden.raw.zst.sha256" in response.get_json()["error"]


def test_inventory_checksum_wins_over_the_sidecar(make_service: Callable) -> None:
    other = hashlib.sha256(b"other").hexdigest()
    client = create_app(make_service(image_inventory({**IMAGE, "sha256": other}))).test_client()
    _, token = netboot(client)
    assert client.get(f"/seed/{token}/deploy.json").get_json()["image"]["sha256"] == other


def test_autoinstall_nodes_have_no_deploy_plan(image_client: FlaskClient) -> None:
    script = image_client.get("/ipxe?mac=52:54:00:00:00:01").get_data(as_text=True)
    assert "autoinstall" in script
    assert image_client.get(f"/seed/{seed_token(script)}/deploy.json").status_code == 404


@pytest.mark.parametrize("change, message", [
    ({"image": None}, "install: image needs an image: section"),
    ({"image": {"file": "http://nas/golden.raw.zst"}}, "needs its sha256 here"),
    ({"image": {"file": "../secrets"}}, "must stay inside the files folder"),
    ({"image": {"file": "g.raw.zst", "sha256": "ABC"}}, "64 lower-case hex digits"),
    ({"image": {"file": "g.raw.zst", "cmdline": "a'b"}}, "unsafe on a boot command line"),
    ({"image": {"file": "g.raw.zst", "format": "qcow2"}}, "'qcow2' is not allowed"),
])
def test_inventory_rules_for_image_installs(change: dict, message: str) -> None:
    data = image_inventory()
    data.update(change)
    if data["image"] is None:
        del data["image"]
    with pytest.raises(InventoryError) as failed:
        inventory_of(data)
    assert message in str(failed.value)


# -- the ramdisk's disk selection (packer/deploy/select-disk.jq, run by jq as in the ramdisk) --

DISKS = {"blockdevices": [
    {"path": "/dev/vda", "name": "vda", "type": "disk", "size": 3 * 2**30, "rota": True,
     "ro": False, "serial": "SEEDBED-1", "model": None, "vendor": "0x1af4"},
    {"path": "/dev/nvme0n1", "name": "nvme0n1", "type": "disk", "size": 1000 * 10**9,
     "rota": False, "ro": False, "serial": "S5GX  ", "model": "Samsung SSD 980 PRO 1TB"},
    {"path": "/dev/sda", "name": "sda", "type": "disk", "size": 4000 * 10**9, "rota": True,
     "ro": False, "serial": "WD1", "model": "WDC WD40", "vendor": "ATA     "},
    {"path": "/dev/sdb", "name": "sdb", "type": "disk", "size": 4000 * 10**9, "rota": True,
     "ro": False, "serial": "WD2", "model": "WDC WD40", "vendor": "ATA     "},
    {"path": "/dev/sr0", "name": "sr0", "type": "rom", "size": 10**9, "rota": True, "ro": True},
    {"path": "/dev/zram0", "name": "zram0", "type": "disk", "size": 10**9, "rota": False,
     "ro": False},
]}


def select(selector: dict[str, Any], resolved: str = "") -> dict[str, str]:
    if shutil.which("jq") is None:
        pytest.fail("jq is not installed (apt-get install jq)", pytrace=False)
    proc = subprocess.run(["jq", "-c", "--argjson", "sel", json.dumps(selector), "--arg",
                           "resolved", resolved, "-f", str(SELECT_DISK)],
                          input=json.dumps(DISKS), capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("selector, disk", [
    ({"serial": "SEEDBED-1"}, "/dev/vda"),
    ({"serial": "S5GX"}, "/dev/nvme0n1"),  # lsblk pads serials: compared trimmed
    ({"model": "Samsung SSD 980*"}, "/dev/nvme0n1"),
    ({"ssd": True}, "/dev/nvme0n1"),  # zram is no disk to install on
    ({"size": "smallest"}, "/dev/vda"),
    ({"vendor": "ATA", "serial": "WD2"}, "/dev/sdb"),
    ({"path": "/dev/sda"}, "/dev/sda"),
    ({"path": "/dev/disk/by-id/wwn-1"}, "/dev/sdb"),  # a symlink, resolved in the ramdisk
])
def test_selector_picks_exactly_one_disk(selector: dict, disk: str) -> None:
    resolved = "/dev/sdb" if "by-id" in selector.get("path", "") else ""
    assert select(selector, resolved) == {"disk": disk}


@pytest.mark.parametrize("selector, message", [
    ({"size": "largest"}, "matches 2 disks, not one: /dev/sda"),  # a tie is not a choice
    ({"model": "WDC*"}, "matches 2 disks"),
    ({"ssd": False}, "matches 3 disks"),
    ({"serial": "NOPE"}, 'no disk matches the selector {"serial":"NOPE"}; disks: /dev/vda'),
    ({"model": "Samsung.SSD*"}, "no disk matches"),  # globs, not regular expressions
])
def test_selector_without_a_unique_match_is_refused(selector: dict, message: str) -> None:
    result = select(selector)
    assert "disk" not in result
    assert message in result["error"]


def test_init_script_is_valid_bash_and_serializes_what_it_posts() -> None:
    init = (REPO / "packer" / "deploy" / "init").read_text()
    assert subprocess.run(["bash", "-n", str(REPO / "packer" / "deploy" / "init")],
                          timeout=30).returncode == 0
    assert init.startswith("#!/bin/bash\n")
    # JSON is built by jq --arg, never by pasting values into text.
    assert "jq -cn --arg" in init and "--data-binary \"$2\"" in init
    assert "tee -p" in init and "sha256sum" in init  # the checksum covers the whole download
