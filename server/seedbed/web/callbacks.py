"""What installing machines post back: curtin progress events and the lifecycle callbacks."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request
from pydantic import ValidationError

from .. import health, limits
from ..lifecycle import Denied
from . import denied, origin, seedbed

bp = Blueprint("callbacks", __name__, url_prefix="/api/v1")

# Curtin's webhook event fields (curtin/reporter/events.py); others are dropped.
EVENT_FIELDS = ("name", "description", "event_type", "origin", "timestamp", "level", "result")


def _json_body() -> dict[str, Any] | None:
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


@bp.post("/report/<token>")
def report(token: str) -> Response:
    body = _json_body()
    if body is None:
        return jsonify(error="expected a JSON object (curtin webhook event)"), 400
    event = {k: _bounded(body[k]) for k in EVENT_FIELDS
             if k in body and isinstance(body[k], (str, int, float))}
    if "name" not in event or "event_type" not in event:
        return jsonify(error="event needs name and event_type"), 400
    message = f"{event['event_type']} {event['name']}"
    if event.get("result"):
        message += f": {event['result']}"
    if event.get("description"):
        message += f" ({str(event['description'])[:200]})"
    try:
        seedbed().lifecycle.report(token, event, message, origin())
    except Denied as exc:
        return denied(exc)
    return jsonify(status="recorded")


def _bounded(value: str | int | float) -> str | int | float:
    """A webhook field as stored: text cut to limits.REPORT_FIELD_CHARS."""
    return value[:limits.REPORT_FIELD_CHARS] if isinstance(value, str) else value


@bp.post("/callback/<token>/installed")
def installed(token: str) -> Response:
    try:
        install = seedbed().lifecycle.installed(token, origin())
    except Denied as exc:
        return denied(exc)
    return jsonify(status="installed", install=install.id)


@bp.post("/callback/<token>/failed")
def failed(token: str) -> Response:
    body = _json_body()
    # curl posts the installer's log tail as text/plain; JSON {"log": ...} works too.
    log = str(body.get("log", "")) if body is not None else request.get_data(as_text=True)
    try:
        install = seedbed().lifecycle.failed(token, log, origin())
    except Denied as exc:
        return denied(exc)
    return jsonify(status="failed", install=install.id)


@bp.post("/callback/<token>/ready")
def ready(token: str) -> Response:
    service = seedbed()
    if len(request.get_data()) > limits.FACTS_MAX_BYTES:
        return jsonify(error=f"facts report larger than {limits.FACTS_MAX_BYTES} bytes"), 413
    try:
        facts = health.Facts.model_validate(_json_body() or {})
    except ValidationError as exc:
        return jsonify(error="facts report is malformed", details=exc.errors(include_url=False,
                                                                            include_input=False)), 400
    try:
        install = service.lifecycle.current_install(token, origin())
        node = service.inventory.node_by_hostname(install.hostname)
        if node is None:
            return jsonify(error="node is no longer in the inventory"), 410
        problems = health.problems(node, facts)
        service.lifecycle.ready(token, facts.model_dump(), problems, origin())
    except Denied as exc:
        return denied(exc)
    service.node_ready(install.hostname)
    return jsonify(status="unhealthy" if problems else "ready", problems=problems)
