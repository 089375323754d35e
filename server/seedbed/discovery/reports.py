"""The discovery boot's report credential, and the report it lets one machine make.

Each discovery boot script carries a new random token (only its SHA-256 is stored),
bound to the MAC that booted and to the address that fetched the script. It is
honoured once, for limits.DISCOVERY_REPORT_TTL_SECONDS; a later boot of that MAC
replaces it. A LAN peer can only report for a MAC it boots as itself, which is what
it can already do to the discovered table (rows capped at limits.DISCOVERED_MAX);
a machine once accepted into the inventory takes no more reports.
"""

from __future__ import annotations

from typing import Any

from .. import limits
from ..errors import Conflict, Forbidden, NotFound
from ..lifecycle import plain_address, security_log
from ..store import Store
from ..tokens import looks_like_token, new_token, token_hash
from .facts import hardware_summary


def issue_report_token(store: Store, now: float, mac: str, address: str | None) -> str:
    """A new report token for the discovered `mac` (recorded before, by Lifecycle.discovered)."""
    token = new_token()
    with store.transaction(durable=False) as db:
        store.set_report_token(db, mac, token_hash(token), plain_address(address),
                               now + limits.DISCOVERY_REPORT_TTL_SECONDS)
    return token


def take_report(store: Store, now: float, token: str, facts: dict[str, Any],
                address: str | None, pin_address: bool) -> str:
    """Store the facts for the token's MAC and use the token up; the MAC, or NotFound
    (unknown token), Forbidden (expired, another address) or Conflict (accepted since)."""
    if not looks_like_token(token):
        raise NotFound("unknown report token")
    with store.transaction() as db:
        row = store.discovered_by_report_token(db, token_hash(token))
        if row is None:
            raise NotFound("unknown report token (used, replaced by a later boot, or rolled off)")
        if row["report_expires_at"] < now:
            raise Forbidden("report token expired: boot the machine again")
        if row["accepted_as"] is not None:
            raise Conflict(f"{row['mac']} is in the inventory now, as {row['accepted_as']}")
        if pin_address and plain_address(address) != row["report_addr"]:
            security_log.warning("discovery report for %s from %s refused (booted from %s)",
                                 row["mac"], address, row["report_addr"])
            raise Forbidden(f"this report token is honoured only from the address that booted "
                              f"with it, not {address}")
        store.set_discovered_facts(db, row["mac"], facts, now)
        store.add_event(db, now, "discovered", f"unknown machine {row['mac']} reported its hardware: "
                        f"{hardware_summary(facts)}", mac=row["mac"])
    return row["mac"]

