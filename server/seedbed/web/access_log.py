"""The access log: one line per request, `ADDR METHOD PATH STATUS TIMEms`, tokens cut short.

A WSGI wrapper rather than Flask before/after-request hooks: it reads the WSGI environ
directly, where the hooks went through Flask's request proxies and `g`, which cost a
third of the time of the cheapest requests (bench/wrk_bench.py).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("seedbed.http")
# Tokens travel in paths; the access log shows only their first characters.
_TOKEN_IN_PATH = re.compile(r"(/(?:seed|report|callback)/)([A-Za-z0-9_-]{6})[A-Za-z0-9_-]+")
_TOKEN_PARTS = ("/seed/", "/report/", "/callback/")


def redact(path: str) -> str:
    if not any(part in path for part in _TOKEN_PARTS):
        return path
    return _TOKEN_IN_PATH.sub(r"\1\2…", path)


class AccessLog:
    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        started = time.perf_counter()
        status = "500"

        def start(status_line: str, headers: list, exc_info: Any = None) -> Any:
            nonlocal status
            status = status_line[:3]
            return start_response(status_line, headers, exc_info)

        body = self.app(environ, start)
        if log.isEnabledFor(logging.INFO):
            # PATH_INFO holds the request's bytes as latin-1 (PEP 3333); the log shows UTF-8.
            path = environ.get("PATH_INFO", "").encode("latin-1").decode("utf-8", "replace")
            log.info("%s %s %s %s %.1fms", environ.get("REMOTE_ADDR"), environ.get("REQUEST_METHOD"),
                     redact(path), status, (time.perf_counter() - started) * 1000)
        return body
