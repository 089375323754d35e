"""The HTTP application: one blueprint per concern, the parts passed in, nothing at import time."""

from __future__ import annotations

from flask import Flask, current_app, request

from .. import limits
from ..lifecycle import Origin
from ..service import Seedbed
from .access_log import AccessLog


def create_app(seedbed: Seedbed) -> Flask:
    from . import admin, boot, callbacks, console, contract, discovery, errors, files, seeds, status
    from .strict_json import StrictJSONProvider

    app = Flask("seedbed", static_folder=None)  # no /static route: every route is ours
    app.config["MAX_CONTENT_LENGTH"] = limits.REQUEST_MAX_BYTES
    app.json = StrictJSONProvider(app)
    # No redirects: werkzeug builds them from the Host header (a LAN peer's choice).
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.extensions["seedbed"] = seedbed
    for module in (boot, seeds, callbacks, admin, files, status, discovery, contract):
        app.register_blueprint(module.bp)
    errors.register(app)
    console.mount(app, seedbed)

    app.wsgi_app = AccessLog(app.wsgi_app)  # type: ignore[method-assign]
    return app


def seedbed() -> Seedbed:
    return current_app.extensions["seedbed"]


def origin() -> Origin | None:
    """This request's source for the install-address check; None when the site turns it off."""
    inv = seedbed().inventory
    if not inv.site.pin_install_address:
        return None

    def node_address(hostname: str) -> str | None:
        node = inv.node_by_hostname(hostname)
        return str(node.ip) if node else None

    return Origin(request.remote_addr, node_address)

