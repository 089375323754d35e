"""The admin API's power control: a node's driver, state and jobs; power actions as jobs."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint, Response, g, jsonify
from pydantic import Field

from ..errors import Conflict
from ..power import PowerUnavailable
from ..views import inventory_node
from . import seedbed
from .admin import admin_operation
from .models import SQLITE_MAX_INT, ErrorAnswer, Minutes, _Answer, _Body

bp = Blueprint("power", __name__, url_prefix="/api/v1")

Action = Literal["on", "off", "cycle", "reinstall"]


class PowerActionBody(_Body):
    action: Action = Field(description="on, off, cycle; reinstall arms the node, sets its next "
                                       "boot to the network once where the driver can, and cycles it")
    minutes: Minutes | None = Field(None, description="reinstall: arming window; the site's "
                                                      "reinstall_window_minutes when absent")


class PowerSummary(_Answer):
    hostname: str
    driver: str | None
    target: str | None = Field(description="where the driver acts (never a credential)")
    capabilities: dict[str, bool] | None
    problem: str | None = Field(description="why seedbed cannot drive this node's power now")
    instructions: str | None = Field(description="manual driver: what a person must do")
    status: dict[str, Any] | None = Field(description="the last power state read, with its age")
    jobs: list[dict[str, Any]]


class QueuedPowerJob(_Answer):
    job: int
    status: str


class PowerJobAnswer(_Answer):
    id: int
    hostname: str
    action: str
    who: str
    state: str
    outcome: str | None
    log: str


@bp.get("/nodes/<hostname>/power")
@admin_operation(answers={200: PowerSummary, 404: ErrorAnswer})
def show_power(hostname: str) -> Response:
    """A node's power driver, what it can do, its last power state and age, its recent jobs."""
    service = seedbed()
    inventory_node(service.inventory, hostname)
    return jsonify(service.power.summary(hostname))


@bp.post("/nodes/<hostname>/power")
@admin_operation(body=PowerActionBody, answers={202: QueuedPowerJob, 404: ErrorAnswer,
                                                409: ErrorAnswer})
def power_action(hostname: str, body: PowerActionBody) -> Response:
    """Queue a power action (409 when the node has one queued or running, or its driver
    cannot do it: manual nodes answer with what a person must do)."""
    service = seedbed()
    inventory_node(service.inventory, hostname)
    try:
        job_id = service.power_action(hostname, body.action, f"api:{g.admin}", body.minutes)
    except PowerUnavailable as exc:  # busy, or the driver cannot (manual: what to do)
        raise Conflict(str(exc)) from None
    return jsonify(job=job_id, status="queued"), 202


@bp.get(f"/power/jobs/<int(max={SQLITE_MAX_INT}):job_id>")
@admin_operation(answers={200: PowerJobAnswer, 404: ErrorAnswer})
def power_job(job_id: int) -> Response:
    """One power job with its log."""
    return jsonify(seedbed().power.jobs.existing(job_id).detail())
