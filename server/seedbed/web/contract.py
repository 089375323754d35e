"""The HTTP contract: each view declares its body, query and answers once, here.

`operation(...)` does two things with the same models: it validates the request body
(strict JSON → the model, or a 400/415/422 JSON error before the view runs) and it
registers the operation with spectree, which builds the OpenAPI 3.1 document from
the app's url_map and these declarations (served at /api/v1/openapi.json). A route
without a declaration still appears in the document, with no answers, and the
contract test fails on it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, current_app, request
from pydantic import BaseModel, ValidationError
from spectree import Response as Answers
from spectree import SecurityScheme, SecuritySchemeData, SpecTree
from werkzeug.exceptions import BadRequest as UnreadableBody
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from .. import __version__
from ..errors import BadRequest, RequestError, Unprocessable
from .models import ErrorAnswer, OpenApiDocument
from .strict_json import strict_loads

DOCUMENT_PATH = "/api/v1/openapi.json"
BEARER = "bearer"

api = SpecTree(
    "flask",
    title="seedbed",
    version=__version__,
    description="PXE provisioning: boot scripts, seeds and install callbacks for machines; "
                "the admin API for people (bearer token).",
    path="_spectree",  # spectree's own routes are never registered; the document is ours
    page_templates={},
    annotations=False,
    validation_error_status=422,
    validation_error_model=ErrorAnswer,
    naming_strategy=lambda model: model.__name__,  # our model names are unique
    nested_naming_strategy=lambda _parent, child: child,
    security_schemes=[SecurityScheme(name=BEARER, data=SecuritySchemeData(type="http", scheme="bearer"))],
)


def invalid_input(kind: type[RequestError], model: type[BaseModel],
                  error: ValidationError) -> RequestError:
    """A query (BadRequest) or a well-formed JSON body (Unprocessable) that does not fit
    the operation's model, with pydantic's details."""
    details = error.errors(include_url=False, include_input=False, include_context=False)
    where = "; ".join(f"{'.'.join(map(str, d['loc'])) or 'body'}: {d['msg']}" for d in details[:5])
    return kind(f"invalid {model.__name__}: {where}",
                details=[{"loc": list(d["loc"]), "msg": d["msg"], "type": d["type"]} for d in details])


def query_args(model: type[BaseModel]) -> BaseModel:
    """The query string as `model` (the first value of a repeated name)."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise invalid_input(BadRequest, model, exc) from None


def json_body(model: type[BaseModel], required: bool, max_bytes: int | None = None) -> BaseModel:
    """The request body as `model`: strict JSON (see strict_json), never coerced.

    `max_bytes`: a tighter limit than the app's MAX_CONTENT_LENGTH, checked before parsing.
    """
    data = request.get_data(cache=True)  # reading enforces MAX_CONTENT_LENGTH (413)
    if max_bytes is not None and len(data) > max_bytes:
        raise RequestEntityTooLarge(f"a {model.__name__} body is at most {max_bytes} bytes")
    if not data:
        if required:
            raise UnreadableBody(f"expected a JSON {model.__name__} body")
        return model()
    if not request.is_json:
        raise UnsupportedMediaType("send the body as Content-Type: application/json")
    try:
        value = strict_loads(data)
    except ValueError as exc:  # malformed, NaN, too deep, not UTF-8
        raise UnreadableBody(f"malformed JSON body: {exc}") from None
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        raise invalid_input(Unprocessable, model, exc) from None


Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def operation(*, answers: dict[int, type[BaseModel] | None], media: dict[int, Iterable[str]] | None = None,
              body: type[BaseModel] | None = None, body_required: bool = True, text_body: bool = False,
              body_max_bytes: int | None = None,
              query: type[BaseModel] | None = None, path: dict[str, str] | None = None,
              admin: bool = False, tags: Iterable[str] = ()) -> Decorator:
    """Declare a view's contract.

    answers: status → JSON model (None: no JSON body, then `media` names its media types).
    body: the JSON body model; the view receives it as `body=` (None when `text_body`
    allows a text/plain body and one came); `body_max_bytes` a tighter size limit (413).
    query: the query model, received as `query=`.
    path: regular expressions of path parameters, for the document (the view checks them).
    """
    declared = dict(answers)
    if body is not None:
        declared |= {400: ErrorAnswer, 413: ErrorAnswer, 415: ErrorAnswer, 422: ErrorAnswer}
    if query is not None:
        declared[400] = ErrorAnswer
    if admin:
        declared[401] = ErrorAnswer
    spec_answers = Answers(**{f"HTTP_{code}": model for code, model in declared.items()})
    register = api.validate(json=body, query=query, resp=spec_answers, tags=tuple(tags),
                            security={BEARER: []} if admin else None, skip_validation=True)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def served(*args: Any, **kwargs: Any) -> Any:
            if query is not None:
                kwargs["query"] = query_args(query)
            if body is not None:
                text = text_body and request.get_data(cache=True) and not request.is_json
                kwargs["body"] = None if text else json_body(body, body_required, body_max_bytes)
            return view(*args, **kwargs)

        # spectree keeps the declaration with the function it returns; its wrapper would
        # buffer every answer (files too), so it is only linked, never called.
        served.__wrapped__ = register(view)  # type: ignore[attr-defined]
        served.contract_media = {code: tuple(types) for code, types in (media or {}).items()}
        served.contract_codes = set(declared)
        served.contract_text_body = text_body
        served.contract_body_required = body_required
        served.contract_path = dict(path or {})
        return served

    return decorate


def openapi_document(app: Flask) -> dict[str, Any]:
    """The app's OpenAPI 3.1 document, built once per app from its routes and declarations."""
    document = app.extensions.get("openapi")
    if document is None:
        # spectree lifts nested model definitions out of api.models while generating,
        # so each app generates from a copy (tests build many apps).
        models = copy.deepcopy(api.models)
        with app.app_context():
            document = api._generate_spec()
        api.models = models
        _complete(app, document)
        app.extensions["openapi"] = document
    return document


def _complete(app: Flask, document: dict[str, Any]) -> None:
    """What spectree cannot say: non-JSON media types, and only the answers each view declares."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        path, _ = api.backend.parse_path(rule, None)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = document["paths"].get(path, {}).get(method.lower())
            if op is None or not hasattr(view, "contract_codes"):
                continue
            op["operationId"] = rule.endpoint
            responses = op["responses"]
            for code in set(responses) - {str(c) for c in view.contract_codes}:
                del responses[code]  # spectree adds a 422 to every operation
            for code, types in view.contract_media.items():
                schema = {"type": "string"} if code < 300 else {}
                responses[str(code)]["content"] = {t: {"schema": {} if t == "application/json" else schema}
                                                   for t in types}
            for parameter in op.get("parameters", []):
                if parameter["in"] == "path" and parameter["name"] in view.contract_path:
                    parameter["schema"]["pattern"] = view.contract_path[parameter["name"]]
            if "requestBody" in op:
                op["requestBody"]["required"] = view.contract_body_required
                if view.contract_text_body:
                    op["requestBody"]["content"]["text/plain"] = {"schema": {"type": "string"}}


bp = Blueprint("contract", __name__)


@bp.get(DOCUMENT_PATH)
@operation(answers={200: OpenApiDocument}, tags=["contract"])
def document() -> Any:
    """This document: the whole HTTP surface as OpenAPI 3.1."""
    return openapi_document(current_app._get_current_object())  # type: ignore[attr-defined]
