"""Bearer tokens: 256 random bits shown once, only their SHA-256 kept at rest.

The tokens are long and random, so a fast hash is enough: there is nothing
to brute-force that a slow KDF would protect.
"""

from __future__ import annotations

import hashlib
import re
import secrets

TOKEN_BYTES = 32
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    """Cheap shape check before touching the store (URL-safe base64, 43 chars)."""
    return _TOKEN_SHAPE.fullmatch(value) is not None
