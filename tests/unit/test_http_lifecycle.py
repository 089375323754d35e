"""Every endpoint's decision: armed, installed, unknown, bad or expired token."""

from __future__ import annotations

import pytest

from support import BASE_INVENTORY, healthy_facts, seed_token

MAC1 = "52-54-00-00-00-01"


def boot(client, mac: str = MAC1, kind: str = "ipxe") -> str:  # noqa: ANN001
    response = client.get(f"/{kind}?mac={mac}&buildarch=x86_64&platform=efi")
    assert response.status_code == 200
    return response.text


def events(service, hostname: str = "gpu01") -> list[str]:  # noqa: ANN001
    return [e.kind + ": " + e.message for e in service.store.events(hostname)]


def test_chain_script_passes_the_booting_nic_and_platform(client) -> None:  # noqa: ANN001
    text = client.get("/boot.ipxe").text
    assert text.startswith("#!ipxe\n")
    assert ("chain --autofree http://10.20.0.5:8080/ipxe?mac=${netX/mac:hexhyp}&buildarch=${buildarch}"
            "&platform=${platform}&uuid=${uuid}") in text


def test_armed_node_gets_the_installer_with_its_seed(client, service) -> None:  # noqa: ANN001
    text = boot(client)
    assert "kernel http://10.20.0.5:8080/files/ubuntu/vmlinuz initrd=initrd ip=dhcp " \
           "url=http://10.20.0.5:8080/files/ubuntu/focal.iso cloud-config-url=/dev/null autoinstall " \
           "ds=nocloud-net;s=http://10.20.0.5:8080/seed/" in text
    assert "initrd --name initrd http://10.20.0.5:8080/files/ubuntu/initrd" in text
    token = seed_token(text)
    assert len(token) >= 43  # 256 bits, URL-safe base64
    assert token not in service.store.path.read_bytes().decode("latin-1")  # hashed at rest
    assert service.store.node("gpu01").state == "installing"


def test_grub_escapes_the_semicolon(client) -> None:  # noqa: ANN001
    text = boot(client, kind="grub")
    assert "linux (http,10.20.0.5)/files/ubuntu/vmlinuz " in text
    assert " 'ds=nocloud-net;s=http://10.20.0.5:8080/seed/" in text
    assert "initrd (http,10.20.0.5)/files/ubuntu/initrd" in text


def test_unknown_mac_is_discovered_and_boots_local_disk(client, service) -> None:  # noqa: ANN001
    text = boot(client, mac="aa:bb:cc:dd:ee:ff")
    assert "sanboot" in text and "exit" in text and "kernel" not in text
    found = service.store.discovered()
    assert [(d["mac"], d["platform"], d["boots"]) for d in found] == [("aa:bb:cc:dd:ee:ff", "efi", 1)]
    boot(client, mac="aabbccddeeff")
    assert service.store.discovered()[0]["boots"] == 2


def test_bad_mac_is_a_400(client) -> None:  # noqa: ANN001
    assert client.get("/ipxe?mac=nonsense").status_code == 400
    assert client.get("/ipxe").status_code == 400


def test_seed_is_served_with_its_token_only(client, service) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    meta = client.get(f"/seed/{token}/meta-data")
    assert meta.status_code == 200
    assert "local-hostname: gpu01" in meta.text
    assert client.get(f"/seed/{token}/user-data").text.startswith("#cloud-config\nautoinstall:")
    assert client.get(f"/seed/{token}/vendor-data").status_code == 200
    wrong = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    before = events(service)
    assert client.get(f"/seed/{wrong}/user-data").status_code == 404
    assert client.get("/seed/short/user-data").status_code == 404
    assert client.get(f"/seed/{token}/secrets").status_code == 404
    assert events(service) == before


def test_seed_expires_but_installed_is_still_accepted(client, service, clock) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    clock.advance(61 * 60)  # seed_ttl_minutes is 60
    assert client.get(f"/seed/{token}/user-data").status_code == 403
    report = {"name": "subiquity/Install/install", "event_type": "finish", "result": "SUCCESS"}
    assert client.post(f"/api/v1/report/{token}", json=report).status_code == 200
    assert client.post(f"/api/v1/callback/{token}/installed").status_code == 200
    assert service.store.node("gpu01").state == "installed"


def test_installed_node_boots_local_disk_and_seed_closes(client, service) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    client.post(f"/api/v1/callback/{token}/installed")
    text = boot(client)
    assert "kernel" not in text and "local disk" in text
    assert client.get(f"/seed/{token}/user-data").status_code == 403
    # a retried callback is harmless; a contradicting one is refused
    assert client.post(f"/api/v1/callback/{token}/installed").status_code == 200
    assert client.post(f"/api/v1/callback/{token}/failed", data="late").status_code == 403
    assert service.store.node("gpu01").state == "installed"


def test_new_boot_supersedes_the_old_token(client, service) -> None:  # noqa: ANN001
    first = seed_token(boot(client))
    second = seed_token(boot(client))
    assert first != second
    assert client.get(f"/seed/{first}/meta-data").status_code == 403
    assert client.post(f"/api/v1/callback/{first}/installed").status_code == 403
    assert client.get(f"/seed/{second}/meta-data").status_code == 200


def test_token_is_valid_only_for_its_own_node(client, service) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    seed_token(boot(client, mac="52:54:00:00:00:02"))
    assert "gpu01" in client.get(f"/seed/{token}/meta-data").text


def test_failed_keeps_the_log_and_disarms(client, service) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    log = "curtin: " + "x" * 100_000 + "\nE: Unable to locate package docker-ce"
    response = client.post(f"/api/v1/callback/{token}/failed", data=log,
                           content_type="text/plain")
    assert response.status_code == 200
    install = service.store.install(response.json["install"])
    assert install.state == "failed"
    assert install.log.endswith("Unable to locate package docker-ce")
    assert len(install.log) == 64 * 1024
    assert service.store.node("gpu01").state == "failed"
    assert "kernel" not in boot(client)


def test_report_events_are_kept_per_machine(client, service) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    event = {"name": "subiquity/Install/install/curthooks", "event_type": "start",
             "description": "configuring target", "origin": "curtin", "timestamp": 1.5,
             "level": "INFO", "secret": "dropped"}
    assert client.post(f"/api/v1/report/{token}", json=event).status_code == 200
    stored = service.store.events("gpu01")[-1]
    assert stored.kind == "install"
    assert stored.message == "start subiquity/Install/install/curthooks (configuring target)"
    assert "secret" not in stored.data
    assert client.post(f"/api/v1/report/{token}", data="not json").status_code == 415
    assert client.post(f"/api/v1/report/{token}", data="not json",
                       content_type="application/json").status_code == 400
    assert client.post(f"/api/v1/report/{token}", json={"name": "x"}).status_code == 422


GOOD_FACTS = healthy_facts(BASE_INVENTORY["nodes"][0])


def test_ready_with_healthy_facts(client, service) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    client.post(f"/api/v1/callback/{token}/installed")
    response = client.post(f"/api/v1/callback/{token}/ready", json=GOOD_FACTS)
    assert response.json == {"status": "ready", "problems": []}
    row = service.store.node("gpu01")
    assert row.state == "ready" and row.facts["docker"]["default_runtime"] == "nvidia"
    # a repeated report (a retried curl) changes nothing and gets the same answer
    again = client.post(f"/api/v1/callback/{token}/ready", json={**GOOD_FACTS, "swap_kib": 4})
    assert (again.status_code, again.json) == (200, response.json)
    assert service.store.node("gpu01").facts["swap_kib"] == 0


@pytest.mark.parametrize("change,reason", [
    ({"gpus": []}, "0 GPU(s) seen by nvidia-smi, 2 expected"),
    ({"docker": {"version": "24.0.9", "default_runtime": "runc"}}, "GPU nodes need 'nvidia'"),
    ({"docker": {"version": "28.2.2", "default_runtime": "nvidia"}}, "not a version RKE accepts"),
    ({"swap_kib": 2048}, "swap is on"),
    ({"sshd": {"permitrootlogin": "no", "passwordauthentication": "yes",
               "allowtcpforwarding": "yes"}}, "passwordauthentication is yes"),
])
def test_ready_with_bad_facts_is_unhealthy(client, service, change, reason) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    client.post(f"/api/v1/callback/{token}/installed")
    response = client.post(f"/api/v1/callback/{token}/ready", json={**GOOD_FACTS, **change})
    assert response.json["status"] == "unhealthy"
    assert any(reason in p for p in response.json["problems"]), response.json
    assert service.store.node("gpu01").state == "unhealthy"


def test_malformed_facts_are_refused_and_change_nothing(client, service) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    client.post(f"/api/v1/callback/{token}/installed")
    assert client.post(f"/api/v1/callback/{token}/ready", json={"swap_kib": "lots"}).status_code == 422
    assert service.store.node("gpu01").state == "installed"


def test_admin_api_needs_a_bearer_token(client, admin_headers) -> None:  # noqa: ANN001
    assert client.get("/api/v1/nodes").status_code == 401
    assert client.get("/api/v1/nodes", headers={"Authorization": "Bearer nope"}).status_code == 401
    nodes = client.get("/api/v1/nodes", headers=admin_headers).json["nodes"]
    assert [(n["hostname"], n["state"], n["armed"]) for n in nodes] == [
        ("gpu01", "new", True), ("gpu02", "new", True)]


def test_reinstall_rearms_with_a_window(client, service, clock, admin_headers) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    client.post(f"/api/v1/callback/{token}/installed")
    assert client.post("/api/v1/nodes/gpu01/reinstall").status_code == 401
    response = client.post("/api/v1/nodes/gpu01/reinstall", json={"minutes": 30}, headers=admin_headers)
    assert response.status_code == 200 and response.json["state"] == "armed"
    assert "kernel" in boot(client)
    client.post(f"/api/v1/callback/{seed_token(boot(client))}/installed")
    client.post("/api/v1/nodes/gpu01/reinstall", json={"minutes": 30}, headers=admin_headers)
    clock.advance(31 * 60)
    assert "kernel" not in boot(client)  # the window closed
    assert client.post("/api/v1/nodes/nope/reinstall", headers=admin_headers).status_code == 404


def test_events_api(client, admin_headers) -> None:  # noqa: ANN001
    seed_token(boot(client))
    found = client.get("/api/v1/nodes/gpu01/events", headers=admin_headers).json["events"]
    assert found[-1]["kind"] == "boot" and "install #1 started" in found[-1]["message"]


def test_accept_discovered_adds_the_node_to_the_inventory(client, service, admin_headers) -> None:  # noqa: ANN001
    boot(client, mac="aa:bb:cc:dd:ee:01")
    body = {"hostname": "gpu09", "ip": "10.20.0.29", "roles": ["worker"], "gpus": 1}
    bad = client.post("/api/v1/discovered/aa:bb:cc:dd:ee:01/accept", headers=admin_headers,
                      json={**body, "ip": "10.20.0.21"})
    assert bad.status_code == 422 and "duplicates" in str(bad.json["problems"])
    text_before = service.settings.inventory_path.read_text()
    response = client.post("/api/v1/discovered/aa:bb:cc:dd:ee:01/accept", headers=admin_headers,
                           json=body)
    assert response.status_code == 201
    assert service.inventory.node_by_mac("aa:bb:cc:dd:ee:01").hostname == "gpu09"
    assert "gpu09" in service.settings.inventory_path.read_text()
    assert text_before in {p.read_text() for p in service.settings.inventory_path.parent.glob("*.bak")}
    assert "kernel" in boot(client, mac="aa:bb:cc:dd:ee:01")  # a new node: armed
    assert client.post("/api/v1/discovered/aa:bb:cc:dd:ee:77/accept", headers=admin_headers,
                       json=body).status_code == 404


def test_files_are_served_with_range(client, service) -> None:  # noqa: ANN001
    folder = service.settings.artifacts / "ubuntu"
    folder.mkdir(parents=True)
    (folder / "vmlinuz").write_bytes(bytes(range(256)) * 4)
    whole = client.get("/files/ubuntu/vmlinuz")
    assert whole.status_code == 200 and len(whole.data) == 1024
    part = client.get("/files/ubuntu/vmlinuz", headers={"Range": "bytes=10-19"})
    assert part.status_code == 206 and part.data == bytes(range(10, 20))
    assert client.get("/files/../state/seedbed.sqlite3").status_code == 404


def test_access_log_never_shows_a_whole_token(client, caplog) -> None:  # noqa: ANN001
    token = seed_token(boot(client))
    with caplog.at_level("INFO", logger="seedbed.http"):
        client.get(f"/seed/{token}/user-data")
        client.post(f"/api/v1/callback/{token}/installed")
    assert caplog.records, "nothing was logged"
    assert token not in caplog.text
    assert f"/seed/{token[:6]}…/user-data" in caplog.text
