"""The console's admin password: an scrypt hash in a 0600 file in the state folder.

A person picks this password, so unlike the random bearer tokens it gets a slow,
memory-hard KDF (hashlib.scrypt: 2^15 x 8 x 1, 32 MiB and ~0.1 s per check).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from pathlib import Path

from .fsutil import atomic_write

FILE_NAME = "admin-password"
_N, _R, _P = 2**15, 8, 1
_MAXMEM = 64 * 2**20
MIN_LENGTH = 10  # characters


class PasswordError(ValueError):
    """A password that may not be set; the message says why."""


def _kdf(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_MAXMEM, dklen=32)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _kdf(password, salt, _N, _R, _P)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        got = _kdf(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, base64.b64decode(digest))


class AdminPassword:
    """STATE/admin-password: set by `seedbed admin password`, checked by the console's sign-in."""

    def __init__(self, state_dir: Path):
        self.path = state_dir / FILE_NAME

    def is_set(self) -> bool:
        return self.path.is_file()

    def set(self, password: str) -> None:
        if len(password) < MIN_LENGTH:
            raise PasswordError(f"the admin password needs at least {MIN_LENGTH} characters")
        atomic_write(self.path, (hash_password(password) + "\n").encode(), mode=0o600)

    def check(self, password: str) -> bool:
        try:
            stored = self.path.read_text(encoding="utf-8")
        except OSError:
            return False
        return verify_password(password, stored)

    def generation(self) -> str:
        """Changes whenever the password does: sessions signed before a change end with it."""
        try:
            return hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]
        except OSError:
            return "unset"
