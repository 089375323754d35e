"""One error shape for the whole service: JSON `{"error": ...}`, from one handler per kind.

iPXE, GRUB and cloud-init stop at an error status without reading the body, so
machine-facing endpoints answer errors in the same JSON as the admin API; their text
form is kept for the scripts and seeds they do read (200 answers).
"""

from __future__ import annotations

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException

from ..lifecycle import Denied
from .contract import InvalidInput

# Headers an error keeps from werkzeug's own answer (405's Allow, 416's Content-Range, ...).
_KEPT_HEADERS = ("Allow", "Content-Range", "WWW-Authenticate", "Retry-After")


def error_response(status: int, message: str, **extra: object) -> Response:
    response = jsonify(error=message, **extra)
    response.status_code = status
    return response


def http_error(exc: HTTPException) -> Response:
    """Werkzeug's errors (404, 405, 413, 416, 400 from bad JSON, 500 ...) without their HTML."""
    if exc.response is not None:  # a view aborted with a complete answer
        return exc.response
    response = error_response(exc.code or 500, exc.description or exc.name)
    for name, value in exc.get_headers():
        if name in _KEPT_HEADERS:
            response.headers[name] = value
    return response


def denied(exc: Denied) -> Response:
    """A refused token: the reason is safe to show (it never echoes the token)."""
    return error_response(exc.status, exc.reason)


def invalid_input(exc: InvalidInput) -> Response:
    return error_response(exc.status, exc.message, details=exc.details)


def register(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(Denied, denied)
    app.register_error_handler(InvalidInput, invalid_input)
