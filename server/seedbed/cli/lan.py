"""The LAN parts of other commands (no command of their own): `render dnsmasq|hosts|zone|sssd`
and `serve --dnsmasq`."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from collections.abc import Iterator

from ..lan import dnsexport, dnsmasq, sssd
from ..lan.supervisor import DnsmasqSupervisor
from ..service import Seedbed

RENDER_KINDS = ("dnsmasq", "hosts", "zone", "sssd")


def render(kind: str, service: Seedbed, show_secrets: bool = False) -> str:
    inv = service.inventory
    state = service.settings.state_dir
    if kind == "dnsmasq":
        return dnsmasq.config_text(inv, dnsmasq.Paths(state / "dnsmasq"))
    if kind == "hosts":
        return dnsexport.hosts_file(inv)
    if kind == "zone":
        serial = dnsexport.zone_serial(inv, state / "dns" / "zone-serial.json")
        return dnsexport.zone_file(inv, serial)
    if inv.ldap is None:
        raise ValueError("the inventory has no ldap section: nodes get no SSSD")
    return sssd.sssd_conf(inv, inv.ldap, show_secret=show_secrets)


def _record(service: Seedbed):  # noqa: ANN202 - a (kind, message) callback
    def record(kind: str, message: str) -> None:
        with service.store.transaction() as db:
            service.store.add_event(db, time.time(), kind, message)

    return record


@contextlib.contextmanager
def dnsmasq_running(enabled: bool, service: Seedbed) -> Iterator[DnsmasqSupervisor | None]:
    """Run and follow dnsmasq for the body's duration (no-op unless enabled); SIGTERM
    then ends the service cleanly, so dnsmasq is stopped with it."""
    if not enabled:
        yield None
        return
    supervisor = DnsmasqSupervisor(service.settings.state_dir / "dnsmasq", record=_record(service))
    service.add_inventory_listener(supervisor.update)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    supervisor.start(poll_inventory=lambda: service.inventory)
    try:
        yield supervisor
    finally:
        supervisor.stop()
        signal.signal(signal.SIGTERM, previous)
