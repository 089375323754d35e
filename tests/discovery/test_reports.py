"""Discovery boots in the service: the boot decision for unknown MACs, the report endpoint's
contract (bad, oversized and forged reports), the stored facts and the accept pre-fill."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from flask.testing import FlaskClient

from seedbed import limits
from seedbed.boot import NetbootRequest, decide
from seedbed.discovery import suggest_accept
from seedbed.inventory import InventoryError, parse_inventory
from seedbed.service import Seedbed
from seedbed.web import create_app
from support import Clock, inventory_data

UNKNOWN = "aa:bb:cc:dd:ee:01"
FACTS: dict[str, Any] = {
    "cpu": {"model": "AMD EPYC 7313P 16-Core Processor", "cores": 32},
    "memory_bytes": 256 * 2**30,
    "disks": [
        {"name": "nvme0n1", "serial": "S5GXNF0R100002", "model": "Samsung SSD 980 PRO 1TB",
         "size_bytes": 1_000_204_886_016, "rotational": False, "removable": False, "transport": "nvme"},
        {"name": "sda", "serial": "ZL2ABCDE", "model": "ST4000NM0035-1V4107",
         "size_bytes": 4_000_787_030_016, "rotational": True, "removable": False, "transport": "sata"},
        {"name": "sdb", "serial": "4C531001550602107203", "model": "Extreme Pro",
         "size_bytes": 8_000_000_000_000, "rotational": False, "removable": True, "transport": "usb"},
    ],
    "nics": [{"name": "enp1s0", "mac": "AA:BB:CC:DD:EE:01", "link": True, "driver": "igb"},
             {"name": "enp2s0", "mac": "aa:bb:cc:dd:ee:02", "link": False, "driver": "igb"}],
    "gpus": [{"vendor_id": "0x10de", "device_id": "0x2204", "vendor": None, "name": None,
              "pci": "0000:41:00.0"},
             {"vendor_id": "0x10de", "device_id": "0x2204", "pci": "0000:61:00.0"},
             {"vendor_id": "0x1a03", "device_id": "0x2000", "pci": "0000:03:00.0"}],
    "firmware": {"mode": "uefi", "secure_boot": False},
    "dmi": {"vendor": "Supermicro", "product": "AS -2014CS-TR", "serial": "S1234567"},
}


def discovery_inventory(**discovery: Any) -> dict[str, Any]:
    return inventory_data(discovery={"boot": True, **discovery},
                          image={"file": "golden/g.raw.zst", "cmdline": "console=ttyS0"})


@pytest.fixture
def lab(make_service) -> Seedbed:  # noqa: ANN001
    return make_service(discovery_inventory())


@pytest.fixture
def web(lab: Seedbed) -> FlaskClient:
    return create_app(lab).test_client()


def boot_script(web: FlaskClient, mac: str = UNKNOWN, kind: str = "ipxe") -> str:
    response = web.get(f"/{kind}", query_string={"mac": mac, "platform": "efi"})
    assert response.status_code == 200, response.get_json()
    return response.get_data(as_text=True)


def report_url(script: str) -> str:
    found = re.search(r"seedbed\.report=http://10\.20\.0\.5:8080(/api/v1/discovery/[A-Za-z0-9_-]{43})\b",
                      script)
    assert found, f"no report URL in:\n{script}"
    return found.group(1)


# -- the boot decision -------------------------------------------------------------------


def test_without_discovery_boot_an_unknown_mac_still_boots_its_local_disk(client) -> None:  # noqa: ANN001
    script = boot_script(client)
    assert "sanboot" in script and "kernel" not in script and "seedbed.report" not in script


def test_unknown_mac_gets_the_report_only_ramdisk(web: FlaskClient, lab: Seedbed) -> None:
    script = boot_script(web)
    assert "kernel http://10.20.0.5:8080/files/deploy/vmlinuz initrd=initrd " in script
    assert "initrd --name initrd http://10.20.0.5:8080/files/deploy/initrd.img" in script
    assert " seedbed.then=poweroff console=ttyS0\n" in script
    assert "ds=nocloud" not in script  # no seed: nothing to install
    report_url(script)
    assert [d["mac"] for d in lab.store.discovered()] == [UNKNOWN]


def test_grub_gets_the_same_discovery_boot(web: FlaskClient) -> None:
    script = boot_script(web, kind="grub")
    assert "linux (http,10.20.0.5)/files/deploy/vmlinuz seedbed.report=http://10.20.0.5:8080/" in script
    assert "initrd (http,10.20.0.5)/files/deploy/initrd.img" in script


def test_known_nodes_are_unchanged_by_discovery(web: FlaskClient) -> None:
    script = boot_script(web, mac="52:54:00:00:00:01")
    assert "seedbed.report" not in script and "ds=nocloud-net" in script


def test_discovery_settings_choose_kernel_and_then(make_service) -> None:  # noqa: ANN001
    data = inventory_data(discovery={"boot": True, "then": "reboot", "kernel": "disc/vmlinuz",
                                     "initrd": "disc/initrd.img", "cmdline": "console=ttyS1"})
    script = boot_script(create_app(make_service(data)).test_client())
    assert "kernel http://10.20.0.5:8080/files/disc/vmlinuz " in script
    assert " seedbed.then=reboot console=ttyS1\n" in script


@pytest.mark.parametrize(("section", "complaint"), [
    ({"boot": "yes"}, "discovery.boot"),
    ({"boot": True, "then": "halt"}, "discovery.then"),
    ({"boot": True, "kernel": "../etc/passwd"}, "inside the files folder"),
    ({"boot": True, "cmdline": "console=ttyS0;shell"}, "unsafe on a boot command line"),
    ({"boot": True, "typo": 1}, "discovery.typo"),
])
def test_discovery_section_is_validated(section: dict, complaint: str) -> None:
    with pytest.raises(InventoryError) as caught:
        parse_inventory(json.dumps(inventory_data(discovery=section)))
    assert complaint in str(caught.value)


@pytest.mark.parametrize(("discovery", "reported", "loader", "action"), [
    ({}, False, "ipxe", "local"),  # no discovery section: unchanged
    ({"boot": False}, False, "ipxe", "local"),
    ({"boot": True}, False, "ipxe", "discover"),
    ({"boot": True}, True, "ipxe", "local"),  # reported once: the local disk from then on
    ({"boot": True}, False, "grub", "discover"),
    ({"boot": True, "kernel": "https://files.lab.test/vmlinuz"}, False, "grub", "refuse"),
    ({"boot": True, "kernel": "https://files.lab.test/vmlinuz"}, False, "ipxe", "discover"),
])
def test_the_pure_decision_for_an_unknown_mac(discovery: dict, reported: bool, loader: str,
                                             action: str) -> None:
    inv = parse_inventory(json.dumps(inventory_data(discovery=discovery))).inventory
    decision = decide(inv, NetbootRequest(UNKNOWN, loader=loader), lambda _node: None, 0.0,
                      reported=lambda mac: reported and mac == UNKNOWN)
    assert (decision.action, decision.node) == (action, None)


# -- the report ----------------------------------------------------------------------------


def test_report_is_stored_once_and_the_machine_then_boots_local(web: FlaskClient, lab: Seedbed,
                                                               clock: Clock) -> None:
    url = report_url(boot_script(web))
    clock.advance(60)
    response = web.post(url, json=FACTS)
    assert response.status_code == 200, response.get_json()
    row = lab.store.discovered()[0]
    assert row["facts_at"] == clock.now
    facts = row["facts"]
    assert facts["nics"][0]["mac"] == "aa:bb:cc:dd:ee:01"  # normalized
    assert [g["vendor"] for g in facts["gpus"]] == ["NVIDIA", "NVIDIA", "ASPEED"]
    assert facts["disks"] == FACTS["disks"] and facts["dmi"] == FACTS["dmi"]
    assert "report_token_hash" not in row and "report_addr" not in row
    assert web.post(url, json=FACTS).status_code == 404  # used up
    assert "sanboot" in boot_script(web)  # reported: the next boot is the local disk's
    assert any("reported its hardware: 32 CPU, 256.0 GiB, 1000G + 4001G + 8000G, 2 NIC, 2 NVIDIA GPU, uefi, "
               "Supermicro AS -2014CS-TR"
               in e.message for e in lab.store.events())


def test_a_later_boot_replaces_the_token(web: FlaskClient) -> None:
    first = report_url(boot_script(web))
    second = report_url(boot_script(web))
    assert web.post(first, json=FACTS).status_code == 404
    assert web.post(second, json=FACTS).status_code == 200


def test_expired_token_is_refused(web: FlaskClient, lab: Seedbed, clock: Clock) -> None:
    url = report_url(boot_script(web))
    clock.advance(limits.DISCOVERY_REPORT_TTL_SECONDS + 1)
    response = web.post(url, json=FACTS)
    assert response.status_code == 403 and "expired" in response.get_json()["error"]
    assert lab.store.discovered()[0]["facts"] is None


def test_report_from_another_address_is_refused(web: FlaskClient, lab: Seedbed) -> None:
    url = report_url(boot_script(web))
    forged = web.post(url, json=FACTS, environ_base={"REMOTE_ADDR": "10.20.0.99"})
    assert forged.status_code == 403 and "10.20.0.99" in forged.get_json()["error"]
    assert lab.store.discovered()[0]["facts"] is None
    assert web.post(url, json=FACTS).status_code == 200  # the real machine still can


def test_a_token_reports_only_for_its_own_mac(web: FlaskClient, lab: Seedbed) -> None:
    boot_script(web, mac="aa:bb:cc:dd:ee:09")
    url = report_url(boot_script(web))
    assert web.post(url, json=FACTS).status_code == 200
    facts = {d["mac"]: d["facts"] for d in lab.store.discovered()}
    assert facts["aa:bb:cc:dd:ee:09"] is None and facts[UNKNOWN] is not None


def test_accepted_machine_takes_no_report(web: FlaskClient, lab: Seedbed) -> None:
    url = report_url(boot_script(web))
    with lab.store.transaction() as db:
        lab.store.mark_accepted(db, UNKNOWN, "gpu09")
    response = web.post(url, json=FACTS)
    assert response.status_code == 409 and "gpu09" in response.get_json()["error"]


def test_made_up_tokens_are_unknown(web: FlaskClient) -> None:
    boot_script(web)
    assert web.post("/api/v1/discovery/" + "A" * 43, json=FACTS).status_code == 404
    assert web.post("/api/v1/discovery/short", json=FACTS).status_code == 404


def broken(path: tuple, value: Any) -> dict[str, Any]:
    facts = copy.deepcopy(FACTS)
    target = facts
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return facts


@pytest.mark.parametrize(("facts", "where"), [
    (broken(("disks", 0, "size_bytes"), "1TB"), "disks.0.size_bytes"),
    (broken(("disks", 0, "size_bytes"), -1), "disks.0.size_bytes"),
    (broken(("nics", 0, "mac"), "not-a-mac"), "nics.0.mac"),
    (broken(("gpus", 0, "vendor_id"), "10de"), "gpus.0.vendor_id"),
    (broken(("firmware", "mode"), "coreboot"), "firmware.mode"),
    (broken(("firmware", "secure_boot"), "no"), "firmware.secure_boot"),
    (broken(("dmi", "serial"), "S1\x1b[2J"), "dmi.serial"),
    (broken(("dmi", "vendor"), "x" * 129), "dmi.vendor"),
    (broken(("disks", 0, "name"), "../../etc"), "disks.0.name"),
    (broken(("cpu", "cores"), True), "cpu.cores"),
    (broken(("extra",), {"anything": 1}), "extra"),
    (broken(("nics",), [FACTS["nics"][0]] * 33), "nics"),
])
def test_bad_reports_are_422_and_change_nothing(web: FlaskClient, lab: Seedbed, facts: dict,
                                                where: str) -> None:
    url = report_url(boot_script(web))
    response = web.post(url, json=facts)
    assert response.status_code == 422, response.get_json()
    assert where in response.get_json()["error"]
    assert lab.store.discovered()[0]["facts"] is None
    assert web.post(url, json=FACTS).status_code == 200  # a bad report does not use the token up


def test_oversized_and_malformed_reports_are_refused(web: FlaskClient, lab: Seedbed) -> None:
    url = report_url(boot_script(web))
    padded = broken(("dmi", "product"), None) | {"pad": "x" * limits.DISCOVERY_FACTS_MAX_BYTES}
    assert web.post(url, json=padded).status_code == 413
    assert web.post(url, data="{", content_type="application/json").status_code == 400
    assert web.post(url, data="cpu=1", content_type="text/plain").status_code == 415
    assert lab.store.discovered()[0]["facts"] is None


def test_report_is_in_the_openapi_document(web: FlaskClient) -> None:
    document = web.get("/api/v1/openapi.json").get_json()
    operation = document["paths"]["/api/v1/discovery/{token}"]["post"]
    assert set(operation["responses"]) >= {"200", "403", "404", "409", "413", "422"}
    schema = json.dumps(document["components"]["schemas"])
    assert "DiscoveryReport" in schema and "secure_boot" in schema


def test_admin_api_lists_the_facts(web: FlaskClient, lab: Seedbed) -> None:
    from seedbed.tokens import new_token, token_hash
    token = new_token()
    lab.store.add_admin_token(token_hash(token), "tests")
    web.post(report_url(boot_script(web)), json=FACTS)
    listed = web.get("/api/v1/discovered", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert listed["discovered"][0]["facts"]["dmi"]["serial"] == "S1234567"
    assert "report_token_hash" not in json.dumps(listed)


# -- the accept pre-fill -------------------------------------------------------------------


def test_suggest_accept_pins_the_largest_fixed_disk_by_serial() -> None:
    suggested = suggest_accept(FACTS, mac=UNKNOWN)
    assert suggested == {"hostname": "gpu-ddee01", "roles": ["worker"], "gpus": 2,
                         "disk": {"serial": "ZL2ABCDE"}}  # the USB stick is larger, and skipped


def test_suggest_accept_without_serials_or_facts() -> None:
    no_serial = broken(("disks", 1, "serial"), None)
    assert suggest_accept(no_serial)["disk"] == {"model": "ST4000NM0035-1V4107", "size": "largest"}
    assert suggest_accept(None) == {"hostname": "node-new", "roles": ["worker"], "gpus": 0,
                                    "disk": {"size": "largest"}}


def test_suggested_node_is_accepted_by_the_inventory(web: FlaskClient, lab: Seedbed) -> None:
    suggested = suggest_accept(FACTS, mac=UNKNOWN)
    boot_script(web)
    lab.accept_discovered(UNKNOWN, suggested | {"ip": "10.20.0.40", "macs": [UNKNOWN]}, who="tests")
    node = lab.inventory.node_by_mac(UNKNOWN)
    assert node is not None and node.disk.serial == "ZL2ABCDE" and node.gpus == 2


# -- seedbed discovered ---------------------------------------------------------------------


def test_cli_lists_discovered_machines_as_a_table_and_json(web: FlaskClient, lab: Seedbed, tmp_path,  # noqa: ANN001
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    from seedbed.cli import main
    web.post(report_url(boot_script(web)), json=FACTS)
    boot_script(web, mac="aa:bb:cc:dd:ee:09")
    where = ["--inventory", str(tmp_path / "lab.yaml"), "--state", str(tmp_path / "state")]
    assert main(["discovered", *where]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["MAC", "SEEN", "BOOTS", "HARDWARE", "SYSTEM", "DISK", "ACCEPTED", "AS"]
    assert UNKNOWN in lines[1] and "32 CPU, 256.0 GiB" in lines[1] and "serial=ZL2ABCDE" in lines[1]
    assert "aa:bb:cc:dd:ee:09" in lines[2] and "(not reported)" in lines[2]
    assert main(["discovered", "--json", *where]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["facts"]["disks"] == FACTS["disks"]
    assert rows[0]["suggested"] == suggest_accept(rows[0]["facts"], UNKNOWN)
    assert rows[1]["facts"] is None and rows[1]["suggested"]["disk"] == {"size": "largest"}


def test_grub_is_told_it_cannot_fetch_an_https_discovery_kernel(make_service) -> None:  # noqa: ANN001
    data = inventory_data(discovery={"boot": True, "kernel": "https://files.lab.test/vmlinuz"})
    web = create_app(make_service(data)).test_client()
    response = web.get("/grub", query_string={"mac": UNKNOWN})
    assert response.status_code == 409 and "plain HTTP" in response.get_json()["error"]
    assert "kernel https://files.lab.test/vmlinuz " in boot_script(web)  # iPXE fetches https


def test_render_previews_the_discovery_boot_without_recording_it(lab: Seedbed, tmp_path,  # noqa: ANN001
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from seedbed.cli import main
    where = ["--inventory", str(tmp_path / "lab.yaml"), "--state", str(tmp_path / "state")]
    assert main(["render", "ipxe", "--mac", UNKNOWN, *where]) == 0
    script = capsys.readouterr().out
    assert "kernel http://10.20.0.5:8080/files/deploy/vmlinuz initrd=initrd seedbed.report=" \
           "http://10.20.0.5:8080/api/v1/discovery/PREVIEW-TOKEN seedbed.then=poweroff" in script
    assert lab.store.discovered() == []


def test_validate_says_what_discovery_boots_need(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: ANN001
    from seedbed.cli import main
    from support import write_inventory
    plain = write_inventory(tmp_path / "plain.yaml", inventory_data())
    assert main(["validate", str(plain)]) == 0
    assert "discovery.boot" not in capsys.readouterr().out
    assert main(["validate", str(write_inventory(tmp_path / "d.yaml", discovery_inventory()))]) == 0
    assert "note: discovery.boot: an unknown MAC's first PXE boot gets the deploy ramdisk" \
           in capsys.readouterr().out
