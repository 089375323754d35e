"""A PXE client's DHCPDISCOVER, sent from inside a test network namespace.

Run as root in the client's namespace (see main for the arguments). Prints one JSON
object per reply: who answered, the address offered, the boot file and the next
server. Standard library only, so it runs under any python3 without the virtualenv.
"""

from __future__ import annotations

import json
import os
import socket
import struct
import sys
import time

MAGIC = b"\x63\x82\x53\x63"


def packet(
    kind: int,
    mac: bytes,
    arch: int,
    ipxe: bool,
    xid: int,
    ciaddr: bytes = b"\0" * 4,
    extra: list[tuple[int, bytes]] | None = None,
) -> bytes:
    header = struct.pack(
        "!BBBBIHH4s4s4s4s16s64s128s",
        1,
        1,
        6,
        0,
        xid,
        0,
        0x8000,
        ciaddr,
        b"\0" * 4,
        b"\0" * 4,
        b"\0" * 4,
        mac.ljust(16, b"\0"),
        b"\0" * 64,
        b"\0" * 128,
    )
    vendor = f"PXEClient:Arch:{arch:05d}:UNDI:002001".encode()
    opts = [
        (53, bytes([kind])),
        (60, vendor),
        (93, struct.pack("!H", arch)),
        (94, b"\x01\x02\x01"),
        (97, b"\0" + mac.ljust(16, b"\0")),
        (55, bytes([1, 3, 6, 43, 60, 66, 67, 97])),
        *(extra or []),
    ]
    if ipxe:  # what iPXE adds: its user class and its feature option
        opts += [(77, b"iPXE"), (175, b"\xb1\x05\x01\x80\x86\x10\x0e")]
    body = b"".join(bytes([code, len(value)]) + value for code, value in opts)
    return header + MAGIC + body + b"\xff"


def first_menu_item(pxe_options: bytes) -> bytes | None:
    """The boot server type of the first PXE menu entry (sub-option 9), if any."""
    i = 0
    while i + 1 < len(pxe_options) and pxe_options[i] != 255:
        code, length = pxe_options[i], pxe_options[i + 1]
        if code == 9 and length >= 2:
            return pxe_options[i + 2 : i + 4]
        i += 2 + length
    return None


def parse(packet: bytes) -> dict:
    yiaddr, siaddr = packet[16:20], packet[20:24]
    boot_file = packet[108:236].split(b"\0", 1)[0].decode("latin-1")
    options: dict[int, bytes] = {}
    i = 240
    while i < len(packet) and packet[i] != 255:
        if packet[i] == 0:
            i += 1
            continue
        code, length = packet[i], packet[i + 1]
        options[code] = packet[i + 2 : i + 2 + length]
        i += 2 + length
    server_id = options.get(54, b"\0\0\0\0")
    return {
        "xid": struct.unpack("!I", packet[4:8])[0],
        "yiaddr": socket.inet_ntoa(yiaddr),
        "siaddr": socket.inet_ntoa(siaddr),
        "server": socket.inet_ntoa(server_id),
        "file": boot_file or options.get(67, b"").decode("latin-1").rstrip("\0"),
        "vendor_class": options.get(60, b"").decode("latin-1"),
        "pxe_options": options.get(43, b"").hex(),
    }


def replies(sock: socket.socket, xid: int, wait: float = 6.0) -> list[dict]:
    """The first reply to `xid` within `wait` seconds (dnsmasq pings a fresh address for
    up to 3 s before offering it), plus any others arriving in the next half second."""
    found, deadline = [], time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            data, (source, port) = sock.recvfrom(4096)
        except TimeoutError:
            break
        reply = {**parse(data), "from": f"{source}:{port}"}
        if reply["xid"] == xid:
            found.append(reply)
            deadline = min(deadline, time.monotonic() + 0.5)
    return found


def main() -> None:
    """Usage: dhcp_probe.py IFACE MAC ARCH [--ipxe] [--client-ip A.B.C.D]

    With --client-ip (the address the router's DHCP would have given), a proxy offer
    without a boot file is followed, as PXE ROMs do, by a request to the boot server
    on port 4011; its answer is printed too, with "step": "boot-server".
    """
    iface, mac_text, arch = sys.argv[1], sys.argv[2], int(sys.argv[3])
    ipxe = "--ipxe" in sys.argv
    client_ip = sys.argv[sys.argv.index("--client-ip") + 1] if "--client-ip" in sys.argv else None
    mac = bytes.fromhex(mac_text.replace(":", ""))
    xid = int.from_bytes(os.urandom(4), "big")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
    sock.bind(("0.0.0.0", 68))
    sock.sendto(packet(1, mac, arch, ipxe, xid), ("255.255.255.255", 67))
    offers = replies(sock, xid)
    for offer in offers:
        print(json.dumps({"step": "offer", **offer}), flush=True)
    proxy = next((o for o in offers if o["yiaddr"] == "0.0.0.0" and not o["file"]), None)
    if proxy is None or client_ip is None:
        return
    item = first_menu_item(bytes.fromhex(proxy["pxe_options"]))
    extra = [(43, bytes([71, 4]) + item + b"\0\0\xff")] if item else []
    sock.sendto(packet(3, mac, arch, ipxe, xid, socket.inet_aton(client_ip), extra), (proxy["server"], 4011))
    for ack in replies(sock, xid):
        print(json.dumps({"step": "boot-server", **ack}), flush=True)


if __name__ == "__main__":
    main()
