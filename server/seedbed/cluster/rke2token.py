"""RKE2's cluster token: generated once, kept 0600 in STATE/cluster, served to cluster members.

The first server is given the bare secret; rke2 then knows the cluster by
`K10<sha256 of the server CA>::server:<secret>` (k3s/rke2's "secure" token format). Once
seedbed has read the first server's CA (in the kubeconfig it collects), the nodes that join
later get that form, which pins the CA they trust on first contact.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import re
import secrets

from ..fsutil import atomic_write
from .state import ClusterPaths

_SECRET = re.compile(r"[0-9a-f]{64}")
_CA_HASH = re.compile(r"[0-9a-f]{64}")


def ensure_token(paths: ClusterPaths) -> str:
    """The cluster's secret, generated on first use (two processes at once make one)."""
    paths.prepare()
    with open(paths.root / ".rke2-token.lock", "w") as lock:
        fcntl.lockf(lock, fcntl.LOCK_EX)
        if not paths.rke2_token.exists():
            atomic_write(paths.rke2_token, (secrets.token_hex(32) + "\n").encode(), 0o600)
    return read_token(paths)


def read_token(paths: ClusterPaths) -> str:
    secret = paths.rke2_token.read_text(encoding="ascii").strip()
    if not _SECRET.fullmatch(secret):
        raise ValueError(f"{paths.rke2_token} does not hold a token seedbed made")
    return secret


def ca_hash(ca_data: str) -> str:
    """sha256 of the CA certificates as rke2 serves them (kubeconfig certificate-authority-data)."""
    return hashlib.sha256(base64.b64decode(ca_data, validate=True)).hexdigest()


def record_ca(paths: ClusterPaths, digest: str) -> None:
    if not _CA_HASH.fullmatch(digest):
        raise ValueError(f"{digest!r} is not a sha256 in hex")
    atomic_write(paths.rke2_ca_hash, (digest + "\n").encode(), 0o644)


def secure_token(digest: str, secret: str) -> str:
    return f"K10{digest}::server:{secret}"


def join_token(paths: ClusterPaths) -> str:
    """What a joining node gets: the K10 form once the first server's CA is known."""
    secret = read_token(paths)
    if not paths.rke2_ca_hash.exists():
        return secret
    return secure_token(paths.rke2_ca_hash.read_text(encoding="ascii").strip(), secret)


def token_for(paths: ClusterPaths, first_server: bool) -> str:
    """The token a member's config.yaml carries (reads only: the token must exist)."""
    return read_token(paths) if first_server else join_token(paths)
