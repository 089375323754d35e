"""Ask a DNS server for a name's A records (stdlib only; runs inside a test namespace).

`python3 dns_query.py SERVER NAME` prints the addresses, one a line; exit 1 if none.
"""

from __future__ import annotations

import os
import socket
import struct
import sys


def query(server: str, name: str, timeout: float = 3.0) -> list[str]:
    qid = int.from_bytes(os.urandom(2), "big")
    question = b"".join(bytes([len(p)]) + p.encode() for p in name.rstrip(".").split("."))
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + b"\0\0\x01\0\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, 53))
        reply = sock.recv(4096)
    rid, _flags, qdcount, ancount = struct.unpack("!HHHH", reply[:8])
    if rid != qid:
        raise RuntimeError("reply to another query")
    i = 12
    for _ in range(qdcount):  # skip the echoed question
        while reply[i] != 0:
            i += 1 + reply[i]
        i += 5
    addresses = []
    for _ in range(ancount):
        i += 2 if reply[i] & 0xC0 == 0xC0 else _name_length(reply, i)
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", reply[i : i + 10])
        i += 10
        if rtype == 1 and length == 4:
            addresses.append(socket.inet_ntoa(reply[i : i + 4]))
        i += length
    return addresses


def _name_length(reply: bytes, i: int) -> int:
    start = i
    while reply[i] != 0 and reply[i] & 0xC0 != 0xC0:
        i += 1 + reply[i]
    return i - start + (2 if reply[i] & 0xC0 == 0xC0 else 1)


if __name__ == "__main__":
    found = query(sys.argv[1], sys.argv[2])
    print("\n".join(found))
    sys.exit(0 if found else 1)
