"""One error style: every domain error kind has one status, answered by one handler in one
JSON shape; no view sets an error status any other way."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from seedbed import errors
from seedbed.service import Seedbed
from seedbed.web import create_app
from seedbed.web import errors as web_errors


def kinds(base: type) -> set[type]:
    found = set()
    for sub in base.__subclasses__():
        found |= {sub} | kinds(sub)
    return found


def test_every_request_error_kind_has_a_status() -> None:
    assert kinds(errors.RequestError) <= set(web_errors.KINDS), "a kind without a status"
    statuses = [status for status, _ in web_errors.KINDS.values()]
    assert len(set(statuses)) == len(statuses), "two kinds share a status"


@pytest.mark.parametrize("kind", sorted(web_errors.KINDS, key=lambda k: k.__name__),
                         ids=lambda k: k.__name__)
def test_each_kind_is_answered_as_json_with_its_status(service: Seedbed, kind: type) -> None:
    app = create_app(service)

    @app.get("/raise")
    def raising() -> None:
        raise kind("what went wrong", problems=["one"])

    response = app.test_client().get("/raise")
    status, headers = web_errors.KINDS[kind]
    assert response.status_code == status
    assert response.json == {"error": "what went wrong", "problems": ["one"]}
    assert all(response.headers.get(name) == value for name, value in headers.items())


def test_no_view_sets_an_error_status_itself() -> None:
    """Views raise; only web/errors.py builds an error answer (no abort(), no error_response())."""
    web = Path(web_errors.__file__).parent
    found = []
    for path in sorted(web.glob("*.py")):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in ("abort", "error_response", "make_response"):
                    found.append(f"{path.name}:{node.lineno} {name}()")
            if isinstance(node, ast.Attribute) and node.attr == "status_code" and \
                    isinstance(getattr(node, "ctx", None), ast.Store):
                found.append(f"{path.name}:{node.lineno} .status_code =")
    assert found == []
