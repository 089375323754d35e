"""The LAN parts of other commands (no command of their own): `render dnsmasq|hosts|zone|sssd`
(`serve --dnsmasq` is Settings.dnsmasq: the service runs dnsmasq's supervisor)."""

from __future__ import annotations

from ..firstboot import sssd
from ..lan import dnsexport, dnsmasq
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

