"""The HTTP application: one blueprint per concern, the parts passed in, nothing at import time."""

from __future__ import annotations

from flask import Flask, Response, current_app, jsonify

from ..httpserver import MAX_BODY_BYTES
from ..lifecycle import Denied
from ..service import Seedbed
from .access_log import AccessLog


def create_app(seedbed: Seedbed) -> Flask:
    from . import admin, boot, callbacks, files, seeds

    app = Flask("seedbed")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.extensions["seedbed"] = seedbed
    for module in (boot, seeds, callbacks, admin, files):
        app.register_blueprint(module.bp)

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok", "nodes": len(seedbed.inventory.nodes)}

    app.wsgi_app = AccessLog(app.wsgi_app)  # type: ignore[method-assign]
    return app


def seedbed() -> Seedbed:
    return current_app.extensions["seedbed"]


def denied(exc: Denied) -> Response:
    """A refused token: the reason is safe to show (it never echoes the token)."""
    response = jsonify(error=exc.reason)
    response.status_code = exc.status
    return response
