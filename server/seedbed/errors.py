"""The one base of every error seedbed reports to a person: the CLI prints it as one message
(no traceback); the web answers it through the handler registered for its kind."""

from __future__ import annotations


class SeedbedError(Exception):
    """Something the user can act on; its text says what and, where it can, how."""


class UsageError(SeedbedError):
    """A command was given arguments it cannot use together (exit status 2)."""

    exit_status = 2
