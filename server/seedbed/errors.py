"""seedbed's errors: one base, and one kind per way a request can be refused.

Feature code raises these without any HTTP in them; the web layer (web/errors.py)
maps each kind to a status, the CLI prints any of them as one line. Messages are
safe to show to whoever asked (they never hold a token or a secret).
"""

from __future__ import annotations

from typing import Any


class SeedbedError(Exception):
    """Something the user can act on; its text says what and, where it can, how.

    The CLI prints it as one message (no traceback); the web answers it through the
    handler registered for its kind."""


class UsageError(SeedbedError):
    """A command was given arguments it cannot use together (exit status 2)."""

    exit_status = 2


class RequestError(SeedbedError):
    """A refused request; `extra` goes into the JSON answer beside the message."""

    def __init__(self, message: str, **extra: Any):
        super().__init__(message)
        self.message = message
        self.extra = extra


class NotFound(RequestError):
    """What was asked for does not exist (an unknown token, node, job or file)."""


class Forbidden(RequestError):
    """It exists, but this request may not have it now (a closed install, another address)."""


class Unauthorized(RequestError):
    """No valid credentials came with the request."""


class Conflict(RequestError):
    """The current state or setup stands in the way (a concurrent edit, an unbootable path)."""


class Gone(RequestError):
    """It existed and is no more (a node taken out of the inventory)."""


class RateLimited(RequestError):
    """Too many requests of one kind in too short a time."""


class BadRequest(RequestError):
    """A request that cannot be read (a malformed MAC, an unknown query parameter)."""


class Unprocessable(RequestError):
    """A well-formed request whose content is invalid (a body that breaks the inventory)."""
