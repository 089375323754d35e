"""The liveness probe."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from . import seedbed
from .contract import operation
from .models import HealthAnswer

bp = Blueprint("status", __name__)


@bp.get("/healthz")
@operation(answers={200: HealthAnswer}, tags=["status"])
def healthz() -> dict[str, Any]:
    """Up, and how many nodes the inventory has."""
    return {"status": "ok", "nodes": len(seedbed().inventory.nodes)}
