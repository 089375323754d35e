"""The admin API: nodes, events, reinstall, discovered machines. Bearer token required."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from .. import views
from ..inventory import InventoryError, normalize_mac
from ..inventory_edit import EditConflict
from ..tokens import token_hash
from . import seedbed

bp = Blueprint("admin", __name__, url_prefix="/api/v1")


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        label = None
        if scheme.lower() == "bearer" and token:
            label = seedbed().store.admin_token_label(token_hash(token.strip()))
        if label is None:
            response = jsonify(error="admin bearer token required (create one: seedbed token create)")
            response.status_code = 401
            response.headers["WWW-Authenticate"] = 'Bearer realm="seedbed"'
            return response
        g.admin = label
        return view(*args, **kwargs)

    return wrapper


@bp.get("/nodes")
@admin_required
def list_nodes() -> Response:
    service = seedbed()
    return jsonify(nodes=views.node_summaries(service.inventory, service.lifecycle))


@bp.get("/nodes/<hostname>")
@admin_required
def show_node(hostname: str) -> Response:
    service = seedbed()
    detail = views.node_detail(service.inventory, service.lifecycle, hostname)
    if detail is None:
        return jsonify(error=f"no node {hostname!r} in the inventory"), 404
    return jsonify(detail)


@bp.get("/nodes/<hostname>/events")
@admin_required
def node_events(hostname: str) -> Response:
    store = seedbed().store
    events = store.events(hostname, limit=_int_arg("limit", 200), after_id=_int_arg("after", 0))
    # `dropped`: older events rolled off to keep the store bounded (seedbed.limits).
    return jsonify(events=views.event_dicts(events), dropped=store.dropped(f"node:{hostname}"))


@bp.get("/events")
@admin_required
def all_events() -> Response:
    store = seedbed().store
    events = store.events(None, limit=_int_arg("limit", 200), after_id=_int_arg("after", 0))
    return jsonify(events=views.event_dicts(events), dropped=store.dropped("events"))


@bp.post("/nodes/<hostname>/reinstall")
@admin_required
def reinstall(hostname: str) -> Response:
    service = seedbed()
    if service.inventory.node_by_hostname(hostname) is None:
        return jsonify(error=f"no node {hostname!r} in the inventory"), 404
    body = request.get_json(silent=True) or {}
    minutes = body.get("minutes", service.inventory.site.reinstall_window_minutes)
    if not isinstance(minutes, int) or not 0 < minutes <= 7 * 24 * 60:
        return jsonify(error="minutes must be an integer between 1 and 10080"), 400
    row = service.lifecycle.rearm(hostname, minutes * 60, who=f"api:{g.admin}")
    return jsonify(hostname=hostname, state=row.state, armed_until=row.armed_until)


@bp.get("/discovered")
@admin_required
def discovered() -> Response:
    store = seedbed().store
    return jsonify(discovered=store.discovered(), dropped=store.dropped("discovered"))


@bp.post("/discovered/<mac>/accept")
@admin_required
def accept(mac: str) -> Response:
    """Add a discovered machine to the inventory file as a new (armed) node."""
    service = seedbed()
    try:
        mac = normalize_mac(mac)
    except ValueError as exc:
        return jsonify(error=str(exc)), 400
    if mac not in {d["mac"] for d in service.store.discovered()}:
        return jsonify(error=f"{mac} has not been discovered"), 404
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return jsonify(error="expected a JSON node: hostname, ip, roles, and optionally gpus, disk"), 400
    node = {"hostname": body.get("hostname"), "ip": body.get("ip"), "roles": body.get("roles")}
    node.update({k: body[k] for k in ("gpus", "disk", "install", "profile") if k in body})
    try:
        service.accept_discovered(mac, node, who=f"api:{g.admin}")
    except EditConflict as exc:
        return jsonify(error=str(exc)), 409
    except InventoryError as exc:
        return jsonify(error="the node would make the inventory invalid",
                       problems=[str(p) for p in exc.problems]), 422
    return jsonify(hostname=node["hostname"], mac=mac, state="new"), 201



@bp.get("/cluster")
@admin_required
def cluster_status() -> Response:
    """Who is in the cluster, what it waits for, and the recent jobs (without their logs)."""
    return jsonify(seedbed().cluster.status())


@bp.get("/cluster/jobs/<int:job_id>")
@admin_required
def cluster_job(job_id: int) -> Response:
    job = seedbed().cluster.jobs.job(job_id)
    if job is None:
        return jsonify(error=f"no cluster job #{job_id}"), 404
    return jsonify(job.summary() | {"log": job.log})


@bp.post("/cluster/up")
@admin_required
def cluster_up() -> Response:
    """Queue an `rke up` and the add-ons now, even if nothing changed."""
    job_id = seedbed().cluster.request_up(f"api:{g.admin}")
    return jsonify(job=job_id, status="queued"), 202


@bp.get("/cluster/rancher-password")
@admin_required
def rancher_password() -> Response:
    password = seedbed().cluster.rancher_password()
    if password is None:
        return jsonify(error="Rancher is disabled in the inventory"), 404
    response = jsonify(bootstrap_password=password)
    response.headers["Cache-Control"] = "no-store"
    return response


def _int_arg(name: str, default: int) -> int:
    try:
        return max(0, min(int(request.args.get(name, default)), 10_000))
    except ValueError:
        return default
