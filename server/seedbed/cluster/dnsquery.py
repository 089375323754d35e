"""Ask one DNS server for a name's A records (UDP, stdlib only), as the nodes' resolver would.

The system resolver answers from seedbed's own /etc/resolv.conf; preflight must ask
the site's servers (site.dns) that the nodes and Rancher's agents use.
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


@dataclass(frozen=True)
class Answer:
    rcode: str
    addresses: list[str]


def query_a(server: str, name: str, timeout: float = 2.0, port: int = 53) -> Answer:
    """The A records `server` gives for `name`; raises OSError (e.g. TimeoutError) if none answers."""
    qid = int.from_bytes(os.urandom(2), "big")
    question = b"".join(bytes([len(p)]) + p.encode("ascii") for p in name.rstrip(".").split("."))
    packet = struct.pack("!HHHHHH", qid, 0x0100, 1, 0, 0, 0) + question + b"\0\0\x01\0\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(packet, (server, port))
        while True:
            reply, _ = sock.recvfrom(4096)
            if len(reply) >= 12 and struct.unpack("!H", reply[:2])[0] == qid:
                break  # a late reply to an earlier query is not ours
    return _parse(reply)


def _parse(reply: bytes) -> Answer:
    _qid, flags, qdcount, ancount = struct.unpack("!HHHH", reply[:8])
    rcode = RCODES.get(flags & 0xF, f"rcode {flags & 0xF}")
    i = 12
    for _ in range(qdcount):
        i = _skip_name(reply, i) + 4
    addresses = []
    for _ in range(ancount):
        i = _skip_name(reply, i)
        rtype, _cls, _ttl, length = struct.unpack("!HHIH", reply[i:i + 10])
        i += 10
        if rtype == 1 and length == 4:
            addresses.append(socket.inet_ntoa(reply[i:i + 4]))
        i += length
    return Answer(rcode, addresses)


def _skip_name(reply: bytes, i: int) -> int:
    while reply[i] != 0:
        if reply[i] & 0xC0 == 0xC0:  # a compression pointer ends the name
            return i + 2
        i += 1 + reply[i]
    return i + 1
