"""Wake-on-LAN: the magic packet (6 x 0xFF, then the MAC 16 times) as a UDP broadcast.

It can only power a machine on, and says nothing back: pair it with firmware that boots
from the network first. `interface` pins the packet to the node's LAN (SO_BINDTODEVICE),
where a host has several.
"""

from __future__ import annotations

import socket

from .driver import Capabilities, PowerDriver, PowerError

WOL_PORT = 9  # discard; port 7 is the other customary one


def magic_packet(mac: str) -> bytes:
    raw = bytes.fromhex(mac.replace(":", ""))
    if len(raw) != 6:
        raise ValueError(f"{mac!r} is not a MAC")
    return b"\xff" * 6 + raw * 16


class WolDriver(PowerDriver):
    name = "wol"
    capabilities = Capabilities(on=True, off=False, cycle=False, status=False, pxe_once=False)

    def __init__(self, mac: str, broadcast: str = "255.255.255.255", interface: str | None = None,
                 port: int = WOL_PORT):
        self.mac, self.broadcast, self.interface, self.port = mac, broadcast, interface, port

    def describe(self) -> str:
        via = f" via {self.interface}" if self.interface else ""
        return f"wol {self.mac} to {self.broadcast}:{self.port}{via}"

    def on(self) -> str:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
                if self.interface:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                    self.interface.encode())
                sock.sendto(magic_packet(self.mac), (self.broadcast, self.port))
        except OSError as exc:
            raise PowerError(f"{self.describe()}: {exc.strerror or exc}") from None
        return f"magic packet sent ({self.describe()}); a machine already on ignores it"
