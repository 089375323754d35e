"""One error shape against hostile input: every error is JSON, nothing arms or stores on bad input.

Each test reproduces a finding of issue 10 (a 500 with a traceback, an HTML error page,
a redirect to a forged host, a NaN stored then emitted, a malformed body that armed a
node, a repeated `ready` refused) and checks the answer that replaced it.
"""

from __future__ import annotations

import json
import socket

import pytest

from seedbed.web.strict_json import MAX_DEPTH, strict_loads
from support import BASE_INVENTORY, ServeProcess, healthy_facts, inventory_data, seed_token, write_inventory

MAC1 = "52:54:00:00:00:01"
GOOD_FACTS = healthy_facts(BASE_INVENTORY["nodes"][0])


def json_error(response, status: int) -> str:  # noqa: ANN001
    """The answer is `status` with the one error shape; returns its message."""
    assert response.status_code == status, (response.status_code, response.data[:300])
    assert response.mimetype == "application/json", response.headers
    body = strict_loads(response.data)
    assert isinstance(body, dict) and isinstance(body.get("error"), str) and body["error"], body
    assert b"Traceback" not in response.data and b"<html" not in response.data.lower()
    return body["error"]


def install_token(client) -> str:  # noqa: ANN001
    response = client.get(f"/ipxe?mac={MAC1}")
    assert response.status_code == 200
    return seed_token(response.text)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# -- deep nesting: 400, never a 500 ------------------------------------------------------


def test_json_nested_1000_deep_is_a_400_on_every_body(client, admin_headers) -> None:  # noqa: ANN001
    token = install_token(client)
    body = nested(1000)
    assert len(body) == 2000  # the finding's 2 KB
    targets = [(f"/api/v1/report/{token}", {}), (f"/api/v1/callback/{token}/ready", {}),
               (f"/api/v1/callback/{token}/failed", {}), ("/api/v1/report/" + "x" * 43, {}),
               ("/api/v1/nodes/gpu01/reinstall", admin_headers),
               ("/api/v1/discovered/aa:bb:cc:dd:ee:ff/accept", admin_headers)]
    for path, headers in targets:
        response = client.post(path, data=body, content_type="application/json", headers=headers)
        assert "nested deeper" in json_error(response, 400), path


def test_nesting_limit_is_exact(client) -> None:  # noqa: ANN001
    token = install_token(client)
    deep_ok = {"name": "n", "event_type": "start", "description": None}
    for _ in range(MAX_DEPTH - 1):
        deep_ok = {"x": deep_ok}
    strict_loads(json.dumps(deep_ok))  # MAX_DEPTH levels parse
    too_deep = json.dumps({"name": "n", "event_type": "start", "x": [deep_ok]})
    assert "nested deeper" in json_error(
        client.post(f"/api/v1/report/{token}", data=too_deep, content_type="application/json"), 400)


# -- NaN / Infinity: refused, never stored, never emitted ------------------------------


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "-1e400"])
def test_non_finite_numbers_are_refused_and_nothing_is_stored(client, service, admin_headers,  # noqa: ANN001
                                                              number: str) -> None:
    token = install_token(client)
    before = len(service.store.events("gpu01"))
    event = '{"name": "n", "event_type": "start", "timestamp": NUMBER}'.replace("NUMBER", number)
    assert "JSON" in json_error(client.post(f"/api/v1/report/{token}", data=event,
                                            content_type="application/json"), 400)
    facts = json.dumps(GOOD_FACTS)[:-1] + f', "load": {number}}}'
    client.post(f"/api/v1/callback/{token}/installed")
    json_error(client.post(f"/api/v1/callback/{token}/ready", data=facts,
                           content_type="application/json"), 400)
    assert len(service.store.events("gpu01")) == before + 1  # only `installed`
    assert service.store.node("gpu01").state == "installed"
    # What the API emits parses with a strict parser (no bare NaN words).
    for path in ("/api/v1/events", "/api/v1/nodes/gpu01", "/api/v1/nodes"):
        strict_loads(client.get(path, headers=admin_headers).data)


def test_the_service_never_emits_nan(client, service, admin_headers) -> None:  # noqa: ANN001
    with pytest.raises(ValueError):
        client.application.json.dumps({"x": float("nan")})
    # A store written before this check (NaN kept as a bare word) still reads as valid JSON.
    with service.store.transaction() as db:
        service.store.add_event(db, 1.0, "install", "old", hostname="gpu01",
                                data={"timestamp": float("nan"), "load": float("inf")})
    events = strict_loads(client.get("/api/v1/events", headers=admin_headers).data)["events"]
    assert events[-1]["data"] == {"timestamp": None, "load": None}


def test_lone_surrogates_are_refused(client, admin_headers) -> None:  # noqa: ANN001
    boot = client.get("/ipxe?mac=aa:bb:cc:dd:ee:01")
    assert boot.status_code == 200
    body = '{"hostname": "gpu09\\ud800", "ip": "10.20.0.29", "roles": ["worker"]}'
    assert "Unicode" in json_error(client.post("/api/v1/discovered/aa:bb:cc:dd:ee:01/accept", data=body,
                                               content_type="application/json", headers=admin_headers), 400)


# -- reinstall: a malformed body never arms ---------------------------------------------


def finished(client, service) -> None:  # noqa: ANN001
    client.post(f"/api/v1/callback/{install_token(client)}/installed")
    assert service.store.node("gpu01").state == "installed"


@pytest.mark.parametrize("body,content_type,status", [
    ('{"minutes": true}', "application/json", 422),
    ('"30"', "application/json", 422),
    ("30", "application/json", 422),
    ("[30]", "application/json", 422),
    ('{"minutes": "30"}', "application/json", 422),
    ('{"minutes": 1.5}', "application/json", 422),
    ('{"minutes": 0}', "application/json", 422),
    ('{"minutes": 10081}', "application/json", 422),
    ('{"minutes": 30, "force": true}', "application/json", 422),
    ('{"minutes": NaN}', "application/json", 400),
    ('{"minutes": 30', "application/json", 400),
    ('{"minutes": 30}', "text/plain", 415),
    ("minutes=30", "application/x-www-form-urlencoded", 415),
])
def test_malformed_reinstall_body_is_refused_and_does_not_arm(client, service, admin_headers, body: str,  # noqa: ANN001
                                                              content_type: str, status: int) -> None:
    finished(client, service)
    response = client.post("/api/v1/nodes/gpu01/reinstall", data=body, content_type=content_type,
                           headers=admin_headers)
    json_error(response, status)
    row = service.store.node("gpu01")
    assert row.state == "installed" and row.armed_until is None
    assert "kernel" not in client.get(f"/ipxe?mac={MAC1}").text


def test_reinstall_with_a_valid_or_empty_body_arms(client, service, clock, admin_headers) -> None:  # noqa: ANN001
    finished(client, service)
    answer = client.post("/api/v1/nodes/gpu01/reinstall", json={"minutes": 30}, headers=admin_headers)
    assert answer.status_code == 200 and answer.json["armed_until"] == clock.now + 30 * 60
    finished(client, service)
    answer = client.post("/api/v1/nodes/gpu01/reinstall", headers=admin_headers)
    window = service.inventory.site.reinstall_window_minutes
    assert answer.status_code == 200 and answer.json["armed_until"] == clock.now + window * 60


def test_invalid_body_names_the_field(client, service, admin_headers) -> None:  # noqa: ANN001
    finished(client, service)
    response = client.post("/api/v1/nodes/gpu01/reinstall", json={"minutes": True}, headers=admin_headers)
    assert "minutes" in json_error(response, 422)
    assert response.json["details"][0]["loc"] == ["minutes"]


# -- /grub with an https kernel: 409, and no install begins --------------------------------


def test_grub_with_an_https_kernel_is_a_409_and_starts_nothing(make_service, tmp_path) -> None:  # noqa: ANN001
    from seedbed.web import create_app

    installer = {"kernel": "https://mirror.example/vmlinuz", "initrd": "ubuntu/initrd",
                 "iso": "http://10.20.0.5:8080/files/ubuntu/focal.iso"}
    service = make_service(inventory_data(installer=installer))
    client = create_app(service).test_client()
    message = json_error(client.get(f"/grub?mac={MAC1}"), 409)
    assert "plain HTTP" in message and "gpu01" in message
    assert service.store.node("gpu01").state == "new" and service.store.events("gpu01") == []
    assert "https://mirror.example/vmlinuz" in client.get(f"/ipxe?mac={MAC1}").text  # iPXE can
    assert client.get("/grub?mac=52:54:00:00:00:99").status_code == 200  # unknown MAC: local disk


# -- werkzeug's own errors: JSON, not HTML -------------------------------------------------


def test_framework_errors_are_json(client, service) -> None:  # noqa: ANN001
    assert "not found" in json_error(client.get("/no/such/page"), 404).lower()
    response = client.delete("/healthz")
    json_error(response, 405)
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "HEAD"}
    token = install_token(client)
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    json_error(client.post(f"/api/v1/report/{token}", data=big, content_type="application/json"), 413)
    folder = service.settings.artifacts
    folder.mkdir(parents=True)
    (folder / "small").write_bytes(b"0123456789")
    response = client.get("/files/small", headers={"Range": "bytes=500-600"})
    json_error(response, 416)
    assert response.headers["Content-Range"] == "bytes */10"
    assert "malformed MAC" in json_error(client.get("/ipxe?mac=nonsense"), 400)
    assert "extra" in json_error(client.get(f"/ipxe?mac={MAC1}&debug=1"), 400).lower()
    json_error(client.get(f"/seed/{token}/secrets"), 404)
    json_error(client.get("/api/v1/nodes"), 401)


def test_an_unexpected_exception_is_a_json_500_without_traceback(client, service, monkeypatch) -> None:  # noqa: ANN001
    class Broken:
        @property
        def nodes(self) -> None:
            raise RuntimeError("disk on fire at /secret/path")

    monkeypatch.setattr(service, "inventory", Broken())
    message = json_error(client.get("/healthz"), 500)
    assert "/secret/path" not in message


# -- no redirect built from the Host header --------------------------------------------------


@pytest.mark.parametrize("path", ["/files//x", "/files//evil.example/x", "//healthz", "/healthz/",
                                  "/api/v1//nodes", "/api/v1/nodes/", "/seed//x/user-data",
                                  "/boot.ipxe/", "/api/v1/openapi.json/"])
def test_no_redirect_to_a_forged_host(client, path: str) -> None:  # noqa: ANN001
    response = client.get(path, headers={"Host": "evil.example"})
    assert response.status_code < 300 or response.status_code >= 400, response.headers
    assert "Location" not in response.headers
    if response.status_code >= 400:
        json_error(response, response.status_code)


def test_no_redirect_through_the_real_server(tmp_path) -> None:  # noqa: ANN001
    """The finding, as found: `seedbed serve` (waitress) with a raw request and a forged Host."""
    inventory = write_inventory(tmp_path / "lab.yaml", inventory_data())
    with ServeProcess(inventory, tmp_path / "state") as server, \
            socket.create_connection((server.host, server.port), timeout=10) as conn:
        conn.sendall(b"GET /files//x HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n")
        reply = b""
        while chunk := conn.recv(65536):
            reply += chunk
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 404"), head
    assert b"location:" not in head.lower() and b"evil.example" not in reply
    assert b"application/json" in head.lower() and json.loads(body)["error"]


# -- a repeated `ready` is idempotent like `installed` ----------------------------------------


def test_repeated_ready_gets_the_same_answer_and_changes_nothing(client, service) -> None:  # noqa: ANN001
    token = install_token(client)
    client.post(f"/api/v1/callback/{token}/installed")
    first = client.post(f"/api/v1/callback/{token}/ready", json={**GOOD_FACTS, "swap_kib": 8})
    assert first.status_code == 200 and first.json["status"] == "unhealthy"
    events = len(service.store.events("gpu01"))
    for facts in (GOOD_FACTS, {**GOOD_FACTS, "swap_kib": 8}):
        again = client.post(f"/api/v1/callback/{token}/ready", json=facts)
        assert (again.status_code, again.json) == (200, first.json)
    assert len(service.store.events("gpu01")) == events
    assert service.store.node("gpu01").facts["swap_kib"] == 8
    # installed behaves the same way; a contradicting outcome is still refused
    assert client.post(f"/api/v1/callback/{token}/installed").status_code in (200, 403)
    json_error(client.post(f"/api/v1/callback/{token}/failed", data="late"), 403)
