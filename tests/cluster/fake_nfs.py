"""A strict fake NFS server for preflight's probe: ONC RPC over TCP, an empty NFSv4 COMPOUND only.

`python fake_nfs.py ADDRESS MAX_MINOR LOG` listens on ADDRESS:2049 (inside a test's network
namespace) and answers NFS4_OK for minor versions up to MAX_MINOR, NFS4ERR_MINOR_VERS_MISMATCH
above; MAX_MINOR "v3" answers PROG_MISMATCH (versions 2-3) like a server without NFSv4.
Why a fake: the kernel NFS server (nfsd) cannot run in this sandbox (no nfsd in
/proc/filesystems and no module loading), and user-space servers are not packaged here.
Anything but the probe's exact call is refused (the connection is closed) and logged.
"""

from __future__ import annotations

import json
import socket
import struct
import sys


def serve(address: str, max_minor: str, log: str) -> None:
    with socket.create_server((address, 2049)) as server:
        print("listening", flush=True)
        while True:
            conn, _ = server.accept()
            with conn:
                conn.settimeout(5)
                try:
                    reply, entry = answer(read_record(conn), max_minor)
                except (ValueError, struct.error, OSError) as exc:
                    reply, entry = None, {"error": str(exc)}
                with open(log, "a") as f:
                    f.write(json.dumps(entry) + "\n")
                if reply is not None:
                    conn.sendall(struct.pack("!I", 0x80000000 | len(reply)) + reply)


def read_record(conn: socket.socket) -> bytes:
    mark = conn.recv(4, socket.MSG_WAITALL)
    (length,) = struct.unpack("!I", mark)
    if not length & 0x80000000 or (length & 0x7FFFFFFF) > 4096:
        raise ValueError("expected one short last fragment")
    return conn.recv(length & 0x7FFFFFFF, socket.MSG_WAITALL)


def answer(call: bytes, max_minor: str) -> tuple[bytes, dict]:
    xid, mtype, rpcvers, prog, vers, proc = struct.unpack("!IIIIII", call[:24])
    if (mtype, rpcvers, prog, proc) != (0, 2, 100003, 1):
        raise ValueError(f"not an NFS COMPOUND call: {(mtype, rpcvers, prog, proc)}")
    cred_flavor, cred_len = struct.unpack("!II", call[24:32])
    i = 32 + (cred_len + 3) // 4 * 4
    _verf_flavor, verf_len = struct.unpack("!II", call[i:i + 8])
    i += 8 + (verf_len + 3) // 4 * 4
    (tag_len,) = struct.unpack("!I", call[i:i + 4])
    i += 4 + (tag_len + 3) // 4 * 4
    minor, ops = struct.unpack("!II", call[i:i + 8])
    if ops != 0 or len(call) != i + 8:
        raise ValueError(f"the probe must send an empty COMPOUND, got {ops} operations")
    entry = {"vers": vers, "minor": minor, "cred": cred_flavor}
    head = struct.pack("!IIIII", xid, 1, 0, 0, 0)  # REPLY, MSG_ACCEPTED, AUTH_NONE verifier
    if max_minor == "v3" or vers != 4:
        return head + struct.pack("!III", 2, 2, 3), entry  # PROG_MISMATCH 2..3
    status = 0 if minor <= int(max_minor) else 10021
    return head + struct.pack("!IIII", 0, status, 0, 0), entry  # SUCCESS, status, tag, no results


if __name__ == "__main__":
    serve(*sys.argv[1:4])
