"""Does an NFS server speak the NFSv4 minor version a mount option asks for? (ONC RPC over TCP)

An empty NFSv4 COMPOUND (RFC 7530 §15.2, RFC 5661 §18) carries only the minor
version: a server without it answers NFS4ERR_MINOR_VERS_MISMATCH before looking at any
file handle, so the probe needs no export permission and no root.
"""

from __future__ import annotations

import os
import socket
import struct

NFS_PORT = 2049
NFS_PROGRAM = 100003
COMPOUND = 1
NFS4_OK = 0
NFS4ERR_MINOR_VERS_MISMATCH = 10021
_PROG_MISMATCH = 2
_REPLY_LIMIT = 64 * 1024


class ProbeError(Exception):
    pass


def minor_version(mount_options: list[str]) -> tuple[int, int]:
    """(major, minor) asked for by `nfsvers=`/`vers=` in mount options; (4, 0) by default here."""
    for option in mount_options:
        key, _, value = option.partition("=")
        if key in ("nfsvers", "vers") and value:
            major, _, minor = value.partition(".")
            return int(major), int(minor or 0)
    return 4, 0


def probe(server: str, minor: int, timeout: float = 3.0, port: int = NFS_PORT) -> str | None:
    """None if `server` accepts NFSv4.`minor`, else why not; raises OSError if unreachable."""
    xid = int.from_bytes(os.urandom(4), "big")
    # CALL, RPC v2, program/version/procedure, AUTH_NONE credential and verifier.
    header = struct.pack("!IIIIIIIIII", xid, 0, 2, NFS_PROGRAM, 4, COMPOUND, 0, 0, 0, 0)
    body = struct.pack("!III", 0, minor, 0)  # tag "" (length 0), minorversion, no operations
    call = header + body
    with socket.create_connection((server, port), timeout=timeout) as sock:
        sock.settimeout(timeout)
        sock.sendall(struct.pack("!I", 0x80000000 | len(call)) + call)
        reply = _record(sock)
    return _verdict(reply, xid, minor)


def _record(sock: socket.socket) -> bytes:
    data = b""
    while True:
        (mark,) = struct.unpack("!I", _exactly(sock, 4))
        length = mark & 0x7FFFFFFF
        if len(data) + length > _REPLY_LIMIT:
            raise ProbeError("reply too long for an empty COMPOUND")
        data += _exactly(sock, length)
        if mark & 0x80000000:
            return data


def _exactly(sock: socket.socket, size: int) -> bytes:
    chunks = b""
    while len(chunks) < size:
        got = sock.recv(size - len(chunks))
        if not got:
            raise ProbeError("the server closed the connection")
        chunks += got
    return chunks


def _verdict(reply: bytes, xid: int, minor: int) -> str | None:
    try:
        rxid, mtype, stat = struct.unpack("!III", reply[:12])
        if rxid != xid or mtype != 1:
            raise ProbeError("not a reply to this call")
        if stat != 0:
            return "the server denied the RPC call (RPC_MISMATCH or AUTH_ERROR)"
        _flavor, verf_len = struct.unpack("!II", reply[12:20])
        i = 20 + (verf_len + 3) // 4 * 4
        (accept,) = struct.unpack("!I", reply[i:i + 4])
        if accept == _PROG_MISMATCH:
            low, high = struct.unpack("!II", reply[i + 4:i + 12])
            return f"the server speaks NFS versions {low} to {high} only, not 4"
        if accept != 0:
            return f"the server did not run the call (accept_stat {accept})"
        (status,) = struct.unpack("!I", reply[i + 4:i + 8])
    except struct.error:
        raise ProbeError("truncated reply") from None
    if status == NFS4ERR_MINOR_VERS_MISMATCH:
        return f"the server does not speak NFSv4.{minor}"
    if status != NFS4_OK:
        return f"the server answered the empty COMPOUND with status {status}"
    return None
