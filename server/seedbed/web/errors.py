"""One error shape for the whole service: JSON `{"error": ...}`, from one handler per kind.

Views raise seedbed.errors kinds (or werkzeug's HTTP errors for the protocol: bad JSON,
too large, wrong method); nothing else sets an error status. iPXE, GRUB and cloud-init
stop at an error status without reading the body, so machine-facing endpoints answer
errors in the same JSON as the admin API.
"""

from __future__ import annotations

from functools import partial

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from .. import errors

# Each domain error kind: its status, and the headers that go with it. A new kind is one line.
KINDS: dict[type[errors.RequestError], tuple[int, dict[str, str]]] = {
    errors.BadRequest: (400, {}),
    errors.Unauthorized: (401, {"WWW-Authenticate": 'Bearer realm="seedbed"'}),
    errors.Forbidden: (403, {}),
    errors.NotFound: (404, {}),
    errors.Conflict: (409, {}),
    errors.Gone: (410, {}),
    errors.Unprocessable: (422, {}),
    errors.RateLimited: (429, {}),
}
# Headers an error keeps from werkzeug's own answer (405's Allow, 416's Content-Range, ...).
_KEPT_HEADERS = ("Allow", "Content-Range", "WWW-Authenticate", "Retry-After")


def error_response(status: int, message: str, headers: dict[str, str] | None = None,
                   **extra: object) -> Response:
    """The one error answer: JSON with the message and any details, and the status."""
    response = jsonify(error=message, **extra)
    response.status_code = status
    response.headers.update(headers or {})
    return response


def domain_error(status: int, headers: dict[str, str], exc: errors.RequestError) -> Response:
    return error_response(status, exc.message, headers, **exc.extra)


def http_error(exc: HTTPException) -> Response:
    """Werkzeug's errors (404, 405, 413, 416, 400 from bad JSON, 500 ...) without their HTML."""
    kept = {name: value for name, value in exc.get_headers() if name in _KEPT_HEADERS}
    return error_response(exc.code or 500, exc.description or exc.name, kept)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    for kind, (status, headers) in KINDS.items():
        app.register_error_handler(kind, partial(domain_error, status, headers))
