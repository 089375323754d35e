"""The admin API: nodes, events, reinstall, discovered machines. Bearer token required."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Response, g, jsonify, request

from .. import views
from ..errors import BadRequest, Conflict, NotFound, Unauthorized, Unprocessable
from ..inventory import InventoryError, normalize_mac
from ..inventory_edit import EditConflict
from ..tokens import token_hash
from . import seedbed
from .contract import operation
from .models import (
    MAC_PATTERN,
    SQLITE_MAX_INT,
    AcceptAnswer,
    AcceptBody,
    ClusterJob,
    ClusterStatus,
    DiscoveredList,
    ErrorAnswer,
    EventList,
    EventsQuery,
    NodeDetail,
    NodeList,
    QueuedJob,
    RancherPassword,
    ReinstallAnswer,
    ReinstallBody,
)

bp = Blueprint("admin", __name__, url_prefix="/api/v1")


def admin_operation(**contract: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """An admin view: its contract (documented as bearer-protected), and the check itself."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        return operation(admin=True, tags=["admin"], **contract)(admin_required(view))

    return decorate


def admin_required(view: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        label = None
        if scheme.lower() == "bearer" and token:
            label = seedbed().store.admin_token_label(token_hash(token.strip()))
        if label is None:
            raise Unauthorized("admin bearer token required (create one: seedbed token create)")
        g.admin = label
        return view(*args, **kwargs)

    return wrapper


@bp.get("/nodes")
@admin_operation(answers={200: NodeList})
def list_nodes() -> Response:
    """Every inventory node with its state."""
    service = seedbed()
    return jsonify(nodes=views.node_summaries(service.inventory, service.lifecycle))


@bp.get("/nodes/<hostname>")
@admin_operation(answers={200: NodeDetail, 404: ErrorAnswer})
def show_node(hostname: str) -> Response:
    """One node, with its last facts report."""
    service = seedbed()
    return jsonify(views.node_detail(service.inventory, service.lifecycle, hostname))


@bp.get("/nodes/<hostname>/events")
@admin_operation(answers={200: EventList}, query=EventsQuery)
def node_events(hostname: str, query: EventsQuery) -> Response:
    """A node's events, oldest first (`limit` of them, with ids after `after`).

    `dropped` counts older events rolled off to keep the store bounded (seedbed.limits).
    """
    store = seedbed().store
    events = store.events(hostname, limit=query.limit, after_id=query.after)
    return jsonify(events=views.event_dicts(events), dropped=store.dropped(f"node:{hostname}"))


@bp.get("/events")
@admin_operation(answers={200: EventList}, query=EventsQuery)
def all_events(query: EventsQuery) -> Response:
    """Every event, oldest first (`limit` of them, with ids after `after`)."""
    store = seedbed().store
    events = store.events(None, limit=query.limit, after_id=query.after)
    return jsonify(events=views.event_dicts(events), dropped=store.dropped("events"))


@bp.post("/nodes/<hostname>/reinstall")
@admin_operation(body=ReinstallBody, body_required=False, answers={200: ReinstallAnswer, 404: ErrorAnswer})
def reinstall(hostname: str, body: ReinstallBody) -> Response:
    """Arm the node for a reinstall, for `minutes` or the site's window."""
    service = seedbed()
    views.inventory_node(service.inventory, hostname)
    minutes = body.minutes or service.inventory.site.reinstall_window_minutes
    row = service.lifecycle.rearm(hostname, minutes * 60, who=f"api:{g.admin}")
    return jsonify(hostname=hostname, state=row.state, armed_until=row.armed_until)


@bp.get("/discovered")
@admin_operation(answers={200: DiscoveredList})
def discovered() -> Response:
    """Machines that PXE-booted with a MAC the inventory does not know."""
    store = seedbed().store
    return jsonify(discovered=store.discovered(), dropped=store.dropped("discovered"))


@bp.post("/discovered/<mac>/accept")
@admin_operation(body=AcceptBody, answers={201: AcceptAnswer, 404: ErrorAnswer, 409: ErrorAnswer},
                 path={"mac": MAC_PATTERN})
def accept(mac: str, body: AcceptBody) -> Response:
    """Add a discovered machine to the inventory file as a new (armed) node."""
    service = seedbed()
    try:
        mac = normalize_mac(mac)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    if mac not in {d["mac"] for d in service.store.discovered()}:
        raise NotFound(f"{mac} has not been discovered")
    node = body.node_entry(mac)
    try:
        service.accept_discovered(mac, node, who=f"api:{g.admin}")
    except EditConflict as exc:
        raise Conflict(str(exc)) from None
    except InventoryError as exc:
        raise Unprocessable("the node would make the inventory invalid",
                            problems=[str(p) for p in exc.problems]) from None
    job, problem = (service.power_on_accepted(node["hostname"], f"api:{g.admin}") if body.power_on
                    else (None, None))
    return jsonify(hostname=node["hostname"], mac=mac, state="new", power_job=job,
                   power_problem=problem), 201



@bp.get("/cluster")
@admin_operation(answers={200: ClusterStatus})
def cluster_status() -> Response:
    """Who is in the cluster, what it waits for, and the recent jobs (without their logs)."""
    return jsonify(seedbed().cluster.status())


@bp.get(f"/cluster/jobs/<int(max={SQLITE_MAX_INT}):job_id>")
@admin_operation(answers={200: ClusterJob, 404: ErrorAnswer})
def cluster_job(job_id: int) -> Response:
    """One cluster job with its log."""
    return jsonify(seedbed().cluster.jobs.existing(job_id).detail())


@bp.post("/cluster/up")
@admin_operation(answers={202: QueuedJob})
def cluster_up() -> Response:
    """Queue an `rke up` and the add-ons now, even if nothing changed."""
    job_id = seedbed().cluster.request_up(f"api:{g.admin}")
    return jsonify(job=job_id, status="queued"), 202


@bp.get("/cluster/rancher-password")
@admin_operation(answers={200: RancherPassword, 404: ErrorAnswer})
def rancher_password() -> Response:
    """Rancher's bootstrap password (never cached)."""
    password = seedbed().cluster.rancher_password()
    if password is None:
        raise NotFound("Rancher is disabled in the inventory")
    response = jsonify(bootstrap_password=password)
    response.headers["Cache-Control"] = "no-store"
    return response
