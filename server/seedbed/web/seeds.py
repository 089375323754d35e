"""The NoCloud seed of one install: served only for its token, while it is armed."""

from __future__ import annotations

import json

from flask import Blueprint, Response

from .. import seeds
from ..deploy import plan
from ..errors import Conflict, Forbidden, Gone, NotFound
from ..inventory import Node
from ..store import InstallRow
from . import origin, seedbed
from .contract import operation
from .models import ErrorAnswer

bp = Blueprint("seeds", __name__)

SEED_FILES = (*seeds.SEED_FILES, "deploy.json")
# What the installer's late-commands fetch: served past the token's expiry (Lifecycle.for_seed).
LATE_FILES = ("provision.sh",)


@bp.get("/seed/<token>/<name>")
@operation(answers={200: None, 403: ErrorAnswer, 404: ErrorAnswer, 409: ErrorAnswer, 410: ErrorAnswer},
           media={200: ("text/plain", "application/json")}, tags=["machine"])
def seed_file(token: str, name: str) -> Response:
    """One file of the install's NoCloud seed (deploy.json for image installs), for its token only."""
    if name not in SEED_FILES:
        raise NotFound(f"no such seed file; there are {', '.join(SEED_FILES)}")
    service = seedbed()
    install = service.lifecycle.for_seed(token, late=name in LATE_FILES, origin=origin())
    inv = service.inventory
    node = inv.node_by_hostname(install.hostname)
    if node is None:
        raise Gone("node is no longer in the inventory")
    urls = seeds.SeedUrls(inv.site.base_url, token)
    if name == "deploy.json":
        return _deploy_plan(install, node, urls)
    body = seeds.seed_file(name, inv, node, urls, method=install.method, install_id=install.id,
                           service_key=service.service_key(),
                           cluster_token=service.cluster_token(node),
                           render_user_data=service.seed_texts.user_data)
    service.lifecycle.seed_fetched(install, name)
    return Response(body, content_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def _deploy_plan(install: InstallRow, node: Node, urls: seeds.SeedUrls) -> Response:
    """The deploy ramdisk's plan: only for image installs, only until the image is written."""
    service = seedbed()
    refused = f"install #{install.id} has no deploy plan to serve"
    if install.method != "image":
        raise NotFound(refused)
    if install.state == "installed":
        raise Forbidden(refused)
    try:
        body = plan.deploy_plan(service.inventory, node, urls, service.settings.artifacts)
    except plan.PlanError as exc:
        raise Conflict(str(exc)) from None
    service.lifecycle.seed_fetched(install, "deploy.json")
    return Response(json.dumps(body, indent=2) + "\n", content_type="application/json",
                    headers={"Cache-Control": "no-store"})
