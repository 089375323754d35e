"""The operator's console: server-rendered pages (Jinja + vendored htmx) at / and /console/.

A Flask application of its own beside the API's: its own session cookie, HTML errors
and templates, while the API keeps its JSON-only contract (every API route is in the
OpenAPI document; these pages are not API). `ConsoleDispatch` hands it `/` and
everything under /console/; every other path reaches the API and machine endpoints
unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask, Response

from ...service import Seedbed
from . import auth, live, pages

PREFIX = "/console"


def create_console(seedbed: Seedbed) -> Flask:
    app = Flask(__name__, static_folder=None, template_folder="templates")
    app.extensions["seedbed"] = seedbed
    app.url_map.strict_slashes = False
    auth.configure(app, seedbed.settings.state_dir)
    live.configure(app)
    app.register_blueprint(pages.bp)
    app.register_blueprint(live.bp)
    app.register_blueprint(auth.bp)
    pages.register_errors(app)
    app.after_request(_page_headers)
    return app


# Scripts only from the console's own files (no inline script, so an event text that slipped
# past escaping still could not run), no framing, forms post only here.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def _page_headers(response: Response) -> Response:
    response.headers.update(_HEADERS)
    response.headers.setdefault("Cache-Control", "no-store")  # nothing of the lab kept after sign-out
    return response


def set_stream_limit(app: Any, streams: int) -> None:
    """`seedbed serve`: how many live streams may be open at once (ServerLimits.console_streams)."""
    app.extensions["console"].extensions["console-streams"].limit = streams


class ConsoleDispatch:
    """WSGI: `/` and /console/... to the console, the rest to the API application."""

    def __init__(self, api: Callable[..., Iterable[bytes]], console: Flask):
        self.api, self.console = api, console

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/" or path == PREFIX or path.startswith(PREFIX + "/"):
            return self.console.wsgi_app(environ, start_response)
        return self.api(environ, start_response)


def mount(api: Flask, seedbed: Seedbed) -> None:
    """Put the console in front of the API application's WSGI callable (web.create_app)."""
    console = create_console(seedbed)
    api.extensions["console"] = console
    api.wsgi_app = ConsoleDispatch(api.wsgi_app, console)  # type: ignore[method-assign]
