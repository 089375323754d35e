"""The contract: /api/v1/openapi.json is valid OpenAPI 3.1 and documents every registered route."""

from __future__ import annotations

from typing import Any

from flask import Flask
from openapi_spec_validator import OpenAPIV31SpecValidator

from seedbed.web import create_app
from seedbed.web.contract import DOCUMENT_PATH, openapi_document


def openapi_path(rule: str) -> str:
    """A werkzeug rule in OpenAPI's template form: /seed/<token>/<path:name> → /seed/{token}/{name}."""
    out, rest = "", rule
    while "<" in rest:
        head, _, tail = rest.partition("<")
        variable, _, rest = tail.partition(">")
        out += head + "{" + variable.rpartition(":")[2] + "}"
    return out + rest


def undocumented(app: Flask, document: dict[str, Any]) -> list[str]:
    """Each route and method of the app the document misses or gives no success answer."""
    missing = []
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op = document["paths"].get(openapi_path(rule.rule), {}).get(method.lower())
            answers = (op or {}).get("responses", {})
            if not any(code.startswith("2") for code in answers):
                missing.append(f"{method} {rule.rule}")
    return missing


def test_document_is_served_without_a_token_and_validates_as_openapi_3_1(client) -> None:  # noqa: ANN001
    response = client.get(DOCUMENT_PATH)
    assert response.status_code == 200 and response.mimetype == "application/json"
    document = response.json
    assert document["openapi"].startswith("3.1.")
    errors = [str(e.message) for e in OpenAPIV31SpecValidator(document).iter_errors()]
    assert errors == []


def test_every_registered_route_is_documented(client) -> None:  # noqa: ANN001
    app = client.application
    document = client.get(DOCUMENT_PATH).json
    assert undocumented(app, document) == []
    rules = {openapi_path(r.rule) for r in app.url_map.iter_rules()}
    assert set(document["paths"]) == rules
    assert len(rules) >= 20  # machine-facing and admin


def test_a_route_added_without_a_declaration_fails_the_check(service) -> None:  # noqa: ANN001
    app = create_app(service)
    app.add_url_rule("/api/v1/shiny", "shiny", lambda: {"ok": True}, methods=["GET", "POST"])
    assert undocumented(app, openapi_document(app)) == ["GET /api/v1/shiny", "POST /api/v1/shiny"]


def test_admin_operations_need_the_bearer_scheme_and_machine_ones_do_not(client) -> None:  # noqa: ANN001
    document = client.get(DOCUMENT_PATH).json
    assert document["components"]["securitySchemes"] == {"bearer": {"type": "http", "scheme": "bearer"}}
    admin_paths = {"/api/v1/nodes", "/api/v1/events", "/api/v1/discovered", "/api/v1/cluster"}
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            protected = op.get("security") == [{"bearer": []}]
            machine = path.startswith(("/api/v1/report", "/api/v1/callback", "/api/v1/discovery/", "/seed",
                                       "/files", "/ipxe", "/grub", "/boot.ipxe", "/healthz", DOCUMENT_PATH))
            assert protected != machine, (method, path)
            if protected:
                assert "401" in op["responses"], (method, path)
    assert admin_paths <= set(document["paths"])


def test_errors_and_bodies_are_described_by_the_models(client) -> None:  # noqa: ANN001
    document = client.get(DOCUMENT_PATH).json
    schemas = document["components"]["schemas"]
    assert schemas["ErrorAnswer"]["required"] == ["error"]
    reinstall = document["paths"]["/api/v1/nodes/{hostname}/reinstall"]["post"]
    body = reinstall["requestBody"]
    assert body["required"] is False
    assert body["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ReinstallBody"}
    assert schemas["ReinstallBody"]["additionalProperties"] is False
    for code in ("400", "404", "413", "415", "422"):
        error = reinstall["responses"][code]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/ErrorAnswer"}, code
    failed = document["paths"]["/api/v1/callback/{token}/failed"]["post"]["requestBody"]["content"]
    assert set(failed) == {"application/json", "text/plain"}
    ipxe = document["paths"]["/ipxe"]["get"]
    assert set(ipxe["responses"]["200"]["content"]) == {"text/plain"}
    assert [p["name"] for p in ipxe["parameters"] if p["required"]] == ["mac"]
    assert "422" not in document["paths"]["/healthz"]["get"]["responses"]  # no body, no 422


def test_schemas_use_json_schema_keywords_only(client) -> None:  # noqa: ANN001
    """pydantic writes constraints it cannot place as `ge`/`le`: validators ignore them silently."""
    document = client.get(DOCUMENT_PATH).json
    foreign = {"ge", "le", "gt", "lt", "regex", "min_length", "max_length"}
    found, pending = [], [("", document["components"]["schemas"], True)]
    while pending:
        where, node, is_names = pending.pop()  # is_names: keys are names (schemas, properties)
        if isinstance(node, dict):
            found += [] if is_names else [f"{where}.{k}" for k in foreign & set(node)]
            pending += [(f"{where}.{k}", v, not is_names and k in ("properties", "$defs"))
                        for k, v in node.items()]
        elif isinstance(node, list):
            pending += [(where, v, False) for v in node]
    assert found == []
