"""The reference for `make bench`: one bare Flask route answering fixed bytes, on the same server
(seedbed.httpserver, same limits) as `seedbed serve`. Usage: bare_flask.py BODY_FILE PORT."""

from __future__ import annotations

import sys
from pathlib import Path

from flask import Flask, Response

from seedbed import cpu_placement
from seedbed.httpserver import ServerLimits, serve


def main() -> None:
    body = Path(sys.argv[1]).read_bytes()
    app = Flask("bare")

    @app.get("/bare")
    def bare() -> Response:
        return Response(body, content_type="text/plain; charset=utf-8")

    @app.get("/healthz")
    def healthz() -> dict:
        return {"status": "ok"}

    # Run in the loop thread as seedbed's /boot.ipxe is: the same server, the same path, the
    # threads on one CPU as `seedbed serve --cpu auto` puts them.
    serve(app, "127.0.0.1", [int(sys.argv[2])], ServerLimits(), memory_paths=frozenset({"/bare"}),
          cpu=cpu_placement.choose(cpu_placement.AUTO))


if __name__ == "__main__":
    main()
