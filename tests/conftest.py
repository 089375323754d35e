"""Fixtures shared by every suite (helpers live in support.py)."""

from support import (  # noqa: F401 - pytest finds fixtures by name
    admin_headers,
    client,
    clock,
    make_service,
    service,
)
