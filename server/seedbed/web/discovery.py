"""What a discovery boot posts: the unknown machine's hardware, with its one-use token."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import limits
from ..discovery import stored_facts
from ..discovery.reports import take_report
from . import seedbed
from .contract import operation
from .models import DiscoveryReport, ErrorAnswer, Recorded

bp = Blueprint("discovery", __name__, url_prefix="/api/v1")


@bp.post("/discovery/<token>")
@operation(body=DiscoveryReport, body_max_bytes=limits.DISCOVERY_FACTS_MAX_BYTES,
           answers={200: Recorded, 403: ErrorAnswer, 404: ErrorAnswer, 409: ErrorAnswer},
           path={"token": r"^[A-Za-z0-9_-]{43}$"}, tags=["machine"])
def report(token: str, body: DiscoveryReport) -> Response:
    """A discovery boot's hardware facts; the token (from its boot script) is honoured once."""
    service = seedbed()
    take_report(service.store, service.lifecycle.clock(), token, stored_facts(body),
                request.remote_addr, service.inventory.site.pin_install_address)
    return jsonify(status="recorded")
