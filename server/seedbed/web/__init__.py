"""The HTTP application: one blueprint per concern, the parts passed in, nothing at import time."""

from __future__ import annotations

import logging
import re
import time

from flask import Flask, Response, current_app, g, jsonify, request

from ..httpserver import MAX_BODY_BYTES
from ..lifecycle import Denied
from ..service import Seedbed

log = logging.getLogger("seedbed.http")
# Tokens travel in paths; the access log shows only their first characters.
_TOKEN_IN_PATH = re.compile(r"(/(?:seed|report|callback)/)([A-Za-z0-9_-]{6})[A-Za-z0-9_-]+")


def redact(path: str) -> str:
    return _TOKEN_IN_PATH.sub(r"\1\2…", path)


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

    @app.before_request
    def _start() -> None:
        g.started = time.perf_counter()

    @app.after_request
    def _access_log(response):  # type: ignore[no-untyped-def]
        took = (time.perf_counter() - g.get("started", time.perf_counter())) * 1000
        log.info("%s %s %s %d %.1fms", request.remote_addr, request.method, redact(request.path),
                 response.status_code, took)
        return response

    return app


def seedbed() -> Seedbed:
    return current_app.extensions["seedbed"]


def denied(exc: Denied) -> Response:
    """A refused token: the reason is safe to show (it never echoes the token)."""
    response = jsonify(error=exc.reason)
    response.status_code = exc.status
    return response
