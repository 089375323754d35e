"""The console's pages and the fragments their live updates fetch.

Every page works as plain HTML forms; with htmx loaded, a page's live parts
(`hx-trigger="changed from:body"`) are fetched again when the page's event stream
(live.py) says something changed.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, abort, render_template, request
from werkzeug.exceptions import HTTPException

from ...inventory import normalize_mac
from ...power import PowerUnavailable
from ...service import Seedbed
from .. import seedbed
from . import accept as accepting
from .auth import signed_in
from .model import STATES, Lab, ago, duration

bp = Blueprint("pages", __name__, static_folder="static", static_url_path="/console/static")
MAX_MINUTES = 10080  # the admin API's reinstall window bound (ReinstallBody)


@bp.app_template_global()
def since(at: float | None) -> str:
    return ago(at)


bp.add_app_template_global(duration, "duration")


@bp.app_template_global()
def live_url() -> str:
    """This page's URL asking for its live part only (what htmx fetches on a change)."""
    args = [(k, v) for k, v in request.args.items(multi=True) if k != "part"] + [("part", "live")]
    return request.path + "?" + urlencode(args)


def _see_other(location: str) -> Response:
    return Response("", 303, {"Location": location})  # relative: never built from Host


def _page(template: str, fragment: str | None = None, **context: Any) -> str:
    """The whole page, or only its live part when htmx asks for it."""
    name = fragment if fragment and request.args.get("part") == "live" else template
    return render_template(name, **context)


@bp.get("/")
def machines() -> str:
    state = request.args.get("state") or None
    if state not in (None, *STATES):
        abort(400, f"unknown state {state!r}")
    lab = Lab(seedbed())
    return _page("machines.html", "machines_live.html", lab=lab, machines=lab.machines(state),
                 discovered=lab.discovered(), state=state, states=STATES)


@bp.get("/console/machines/<hostname>")
def machine(hostname: str) -> str:
    lab = Lab(seedbed())
    node = lab.machine(hostname, every_event=request.args.get("events") == "all")
    if node is None:
        abort(404, f"no machine {hostname!r} in the inventory")
    return _page("machine.html", "machine_live.html", node=node, lab=lab)


def _known_node(hostname: str) -> Seedbed:
    service = seedbed()
    if service.inventory.node_by_hostname(hostname) is None:
        abort(404, f"no machine {hostname!r} in the inventory")
    return service


def _confirmed(what: str) -> None:
    """Every action form has a confirmation box (and the CSRF field auth.guard checks)."""
    if request.form.get("confirm") != "yes":
        abort(400, f"tick the confirmation to {what}")


def _window_minutes(service: Seedbed) -> int:
    try:
        minutes = int(request.form.get("minutes") or service.inventory.site.reinstall_window_minutes)
    except ValueError:
        abort(400, "the window is a whole number of minutes")
    if not 1 <= minutes <= MAX_MINUTES:
        abort(400, f"the window is 1 to {MAX_MINUTES} minutes")
    return minutes


@bp.post("/console/machines/<hostname>/reinstall")
def reinstall(hostname: str) -> Response:
    service = _known_node(hostname)
    _confirmed("arm a reinstall")
    minutes = _window_minutes(service)
    service.lifecycle.rearm(hostname, minutes * 60, who=f"console:{signed_in()}")
    return _see_other(f"/console/machines/{hostname}")


@bp.post("/console/machines/<hostname>/power")
def power(hostname: str) -> Response:
    """A power action queued as a job, as `seedbed power` and the admin API queue it."""
    service = _known_node(hostname)
    _confirmed("act on its power")
    action = request.form.get("action", "")
    minutes = _window_minutes(service) if action == "reinstall" else None
    try:
        service.power_action(hostname, action, f"console:{signed_in()}", minutes)
    except PowerUnavailable as exc:  # busy, or the driver cannot (manual: what to do)
        abort(409, str(exc))
    return _see_other(f"/console/machines/{hostname}")


def _discovered_row(lab: Lab, mac: str) -> tuple[str, dict[str, Any]]:
    try:
        mac = normalize_mac(mac)
    except ValueError:
        abort(404, "not a MAC address")
    rows = lab.discovered(mac)
    if not rows:
        abort(404, f"{mac} has not been discovered (or was accepted already)")
    return mac, rows[0]


@bp.get("/console/discovered/<mac>")
def discovered(mac: str) -> str:
    lab = Lab(seedbed())
    mac, row = _discovered_row(lab, mac)
    return _accept_page(row, accepting.initial_form(row, lab.inventory))


def _accept_page(row: dict[str, Any], form: accepting.AcceptForm) -> str:
    return render_template("discovered.html", row=row, form=form, roles=accepting.ROLES,
                           power_drivers=accepting.POWER_DRIVERS)


@bp.post("/console/discovered/<mac>/accept")
def accept(mac: str) -> Response | tuple[str, int]:
    service = seedbed()
    lab = Lab(service)
    mac, row = _discovered_row(lab, mac)
    form = accepting.form_from_post(request.form)
    if not accepting.accept(service, mac, form, who=f"console:{signed_in()}"):
        return _accept_page(row, form), 422
    return _see_other(f"/console/machines/{form.values['hostname']}")


@bp.get("/console/cluster")
def cluster() -> str:
    job_id = request.args.get("job", type=int)
    lab = Lab(seedbed())
    return _page("cluster.html", "cluster_live.html", cluster=lab.cluster(job_id), lab=lab)


@bp.post("/console/cluster/up")
def cluster_up() -> Response:
    job = seedbed().cluster.request_up(f"console:{signed_in()}")  # its event names who
    return _see_other(f"/console/cluster?job={job}")


def register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def error_page(exc: HTTPException) -> tuple[str, int]:
        return render_template("error.html", code=exc.code, message=exc.description), exc.code or 500
