"""The accept form of a discovered machine: filled from its hardware facts when it reported
some, read back into the admin API's own body model, and every refusal put next to its field."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from werkzeug.datastructures import MultiDict

from ...inventory import Inventory, InventoryError
from ...inventory_edit import EditConflict
from ...service import Seedbed
from ..models import AcceptBody

ROLES = ("controlplane", "etcd", "worker")
FIELDS = ("hostname", "ip", "roles", "gpus", "disk", "power")
POWER_DRIVERS = ("wol", "ipmi", "redfish")  # what the form offers (manual cannot power on)
POWER_FIELDS = ("address", "username", "secret")
_NODE_FIELD = re.compile(r"^nodes\[\d+\]\.(\w+)")


@dataclass
class AcceptForm:
    values: dict[str, Any]
    errors: dict[str, list[str]] = field(default_factory=dict)  # field (or "" for the form) -> messages

    def error(self, name: str, message: str) -> None:
        self.errors.setdefault(name if name in FIELDS else "", []).append(message)


def suggestion(facts: dict[str, Any] | None, mac: str) -> dict[str, Any]:
    """The discovery module's proposal for these facts (hostname, roles, gpus, disk);
    nothing when the machine reported no facts or discovery is not part of this seedbed."""
    if not facts:
        return {}
    try:
        from ...discovery import suggest_accept  # type: ignore[attr-defined]
    except ImportError:
        return {}
    return dict(suggest_accept(facts, mac))


def free_address(inventory: Inventory) -> str:
    """The first address of the site's subnet after the nodes' highest that nobody uses."""
    site = inventory.site
    subnet = ipaddress.ip_network(str(site.subnet), strict=False)
    used = {str(n.ip) for n in inventory.nodes} | {str(site.gateway)} | {str(d) for d in site.dns}
    taken = [ipaddress.ip_address(a) for a in used if ipaddress.ip_address(a) in subnet]
    start = max(taken, default=subnet.network_address)
    for host in (*[h for h in subnet.hosts() if h > start], *subnet.hosts()):
        if str(host) not in used:
            return str(host)
    return ""


def initial_form(row: dict[str, Any], inventory: Inventory) -> AcceptForm:
    proposed = suggestion(row.get("facts"), row["mac"])
    disk = proposed.get("disk") or {}
    return AcceptForm({"hostname": proposed.get("hostname", ""),
                       "ip": proposed.get("ip") or free_address(inventory),
                       "roles": list(proposed.get("roles") or ["worker"]),
                       "gpus": proposed.get("gpus", 0), "disk_serial": disk.get("serial", ""),
                       "power_driver": "", "power_on": False,
                       **{f"power_{name}": "" for name in POWER_FIELDS}})


def form_from_post(form: MultiDict[str, str]) -> AcceptForm:
    names = ("hostname", "ip", "gpus", "disk_serial", "power_driver",
             *(f"power_{name}" for name in POWER_FIELDS))
    text = {name: form.get(name, "").strip() for name in names}
    return AcceptForm({**text, "roles": [r for r in form.getlist("roles") if r in ROLES],
                       "power_on": form.get("power_on") == "yes"})


def _power(values: dict[str, Any]) -> dict[str, str] | None:
    """The node's `power:` from the form: the driver and the fields filled in (the inventory
    says which a driver needs); wol wakes the discovered MAC."""
    if not values["power_driver"]:
        return None
    given = {name: values[f"power_{name}"] for name in POWER_FIELDS if values[f"power_{name}"]}
    return {"driver": values["power_driver"], **given}


def body_of(form: AcceptForm) -> AcceptBody | None:
    """The admin API's body for the form, or None with the form's errors filled in."""
    values = form.values
    gpus: Any = values["gpus"] or "0"
    try:
        gpus = int(gpus)
    except ValueError:
        form.error("gpus", "a whole number of GPUs (0 for none)")
    body = {"hostname": values["hostname"], "ip": values["ip"], "roles": values["roles"], "gpus": gpus}
    if values["disk_serial"]:
        body["disk"] = {"serial": values["disk_serial"]}
    power = _power(values)
    if power:
        body["power"] = power
    body["power_on"] = values["power_on"]
    if not values["roles"]:
        form.error("roles", "pick at least one role")
    if form.errors:
        return None
    try:
        return AcceptBody.model_validate(body)
    except ValidationError as exc:
        for problem in exc.errors():
            form.error(str(problem["loc"][0]) if problem["loc"] else "power", problem["msg"])
        return None


def accept(service: Seedbed, mac: str, form: AcceptForm, who: str) -> bool:
    """Add the machine to the inventory file (and queue its power-on when asked: why not goes
    to its timeline), or put why not into the form's errors."""
    body = body_of(form)
    if body is None:
        return False
    try:
        service.accept_discovered(mac, body.node_entry(mac), who=who)
    except EditConflict as exc:
        form.error("hostname" if "named" in str(exc) else "", str(exc))
        return False
    except InventoryError as exc:
        for problem in exc.problems:
            if problem.severity != "error":
                continue
            found = _NODE_FIELD.match(problem.path)
            form.error(found.group(1) if found else "", problem.message if found else str(problem))
        if form.errors:
            return False
    if body.power_on:
        service.power_on_accepted(body.hostname, who)
    return True
