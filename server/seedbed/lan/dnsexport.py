"""The site's names for other DNS servers: a hosts file and a BIND zone file.

Synology's DNS Server imports zone files; any resolver takes a hosts file. Names and
addresses come validated from the inventory (RFC 1123 labels, IPv4 addresses).
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from ..fsutil import atomic_write
from ..inventory import Inventory

NS_LABEL = "seedbed"  # the zone's name server: seedbed's host, where dnsmasq answers
TTL = 3600
# refresh, retry, expire, negative-answer TTL (RFC 1912's suggestions for a small zone)
SOA_TIMERS = (3600, 600, 1209600, 300)


def hosts_file(inv: Inventory) -> str:
    lines = ["# Written by seedbed from the inventory: the lab's nodes."]
    lines += [f"{node.ip}\t{inv.fqdn(node)} {node.hostname}" for node in inv.nodes]
    return "\n".join(lines) + "\n"


def zone_records(inv: Inventory) -> list[tuple[str, str, str]]:
    """(name, type, data) for everything but the SOA, relative to the zone's origin."""
    if inv.node_by_hostname(NS_LABEL) is not None:
        raise ValueError(f"a node is named {NS_LABEL!r}: the zone's name server needs that name")
    server = inv.server_ip()
    if server is None:
        raise ValueError("the zone needs seedbed's address: set dhcp.server_ip")
    records = [("@", "NS", f"{NS_LABEL}.{inv.site.domain}."), (NS_LABEL, "A", str(server))]
    records += [(node.hostname, "A", str(node.ip)) for node in inv.nodes]
    return records


def zone_file(inv: Inventory, serial: int) -> str:
    domain = inv.site.domain
    refresh, retry, expire, minimum = SOA_TIMERS
    lines = [
        "; Written by seedbed from the inventory.",
        f"$ORIGIN {domain}.",
        f"$TTL {TTL}",
        f"@\tIN\tSOA\t{NS_LABEL}.{domain}. hostmaster.{domain}. "
        f"({serial} {refresh} {retry} {expire} {minimum})",
    ]
    lines += [f"{name}\tIN\t{rtype}\t{data}" for name, rtype, data in zone_records(inv)]
    return "\n".join(lines) + "\n"


def zone_serial(inv: Inventory, state_file: Path, today: str | None = None) -> int:
    """The zone's serial: unchanged while the records are, else raised to at least
    YYYYMMDD00, so secondaries that import the zone see every change."""
    digest = hashlib.sha256(json.dumps(zone_records(inv)).encode()).hexdigest()
    try:
        saved = json.loads(state_file.read_text())
    except (OSError, ValueError):
        saved = {}
    if saved.get("digest") == digest and isinstance(saved.get("serial"), int):
        return saved["serial"]
    floor = int((today or time.strftime("%Y%m%d")) + "00")
    serial = max(floor, int(saved.get("serial", 0)) + 1)
    atomic_write(state_file, json.dumps({"digest": digest, "serial": serial}).encode())
    return serial
