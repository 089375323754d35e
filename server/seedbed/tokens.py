"""Bearer tokens: 256 random bits shown once, only their SHA-256 kept at rest.

The tokens are long and random, so a fast hash is enough: there is nothing
to brute-force that a slow KDF would protect.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(value: str) -> bool:
    """Cheap shape check before touching the store (URL-safe base64, 43 chars)."""
    return len(value) == 43 and all(c.isalnum() or c in "-_" for c in value)
