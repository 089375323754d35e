"""What installing machines post back: curtin progress events and the lifecycle callbacks."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import health, limits
from ..errors import Gone
from . import origin, seedbed
from .contract import operation
from .models import (
    CurtinEvent,
    ErrorAnswer,
    FactsReport,
    FailedBody,
    InstallOutcome,
    ReadyAnswer,
    Recorded,
)

bp = Blueprint("callbacks", __name__, url_prefix="/api/v1")

_REFUSED = {403: ErrorAnswer, 404: ErrorAnswer}  # a superseded/finished install; an unknown token


@bp.post("/report/<token>")
@operation(body=CurtinEvent, answers={200: Recorded, 429: ErrorAnswer, **_REFUSED}, tags=["machine"])
def report(token: str, body: CurtinEvent) -> Response:
    """A curtin webhook event, kept with the install while it runs."""
    event = {key: _bounded(value) for key, value in body.model_dump(exclude_none=True).items()}
    message = f"{body.event_type} {body.name}"
    if body.result:
        message += f": {body.result}"
    if body.description:
        message += f" ({body.description[:200]})"
    seedbed().lifecycle.report(token, event, message, origin())
    return jsonify(status="recorded")


def _bounded(value: str | int | float) -> str | int | float:
    """A webhook field as stored: text cut to limits.REPORT_FIELD_CHARS."""
    return value[:limits.REPORT_FIELD_CHARS] if isinstance(value, str) else value


@bp.post("/callback/<token>/installed")
@operation(answers={200: InstallOutcome, **_REFUSED}, tags=["machine"])
def installed(token: str) -> Response:
    """The installer finished; a repeated call gets the same answer."""
    install = seedbed().lifecycle.installed(token, origin())
    return jsonify(status="installed", install=install.id)


@bp.post("/callback/<token>/failed")
@operation(body=FailedBody, body_required=False, text_body=True, answers={200: InstallOutcome, **_REFUSED},
           tags=["machine"])
def failed(token: str, body: FailedBody | None) -> Response:
    """The installer failed: the log tail as text/plain (curl) or JSON {"log": ...}."""
    log = body.log if body is not None else request.get_data(as_text=True)
    install = seedbed().lifecycle.failed(token, log, origin())
    return jsonify(status="failed", install=install.id)


@bp.post("/callback/<token>/ready")
@operation(body=FactsReport, body_max_bytes=limits.FACTS_MAX_BYTES,
           answers={200: ReadyAnswer, 410: ErrorAnswer, **_REFUSED}, tags=["machine"])
def ready(token: str, body: FactsReport) -> Response:
    """First boot finished: the facts are checked; a repeated report gets the same answer."""
    service = seedbed()
    install = service.lifecycle.current_install(token, origin())
    node = service.inventory.node_by_hostname(install.hostname)
    if node is None:
        raise Gone("node is no longer in the inventory")
    found = health.problems(service.inventory, node, body)
    outcome = service.lifecycle.ready(token, body.model_dump(), found, origin())
    if outcome.first:
        service.node_ready(install.hostname)
    return jsonify(status="unhealthy" if outcome.problems else "ready", problems=outcome.problems)
