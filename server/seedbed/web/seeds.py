"""The NoCloud seed of one install: served only for its token, while it is armed."""

from __future__ import annotations

import json

from flask import Blueprint, Response

from .. import seeds
from ..deploy import plan
from ..inventory import Node
from ..seed_texts import SeedCheckError
from ..store import InstallRow
from . import origin, seedbed
from .contract import operation
from .errors import error_response
from .models import ErrorAnswer

bp = Blueprint("seeds", __name__)

SEED_FILES = ("user-data", "meta-data", "vendor-data", "provision.sh", "deploy.json")
# What the installer's late-commands fetch: served past the token's expiry (Lifecycle.for_seed).
LATE_FILES = ("provision.sh",)


@bp.get("/seed/<token>/<name>")
@operation(answers={200: None, 403: ErrorAnswer, 404: ErrorAnswer, 409: ErrorAnswer, 410: ErrorAnswer},
           media={200: ("text/plain", "application/json")}, tags=["machine"])
def seed_file(token: str, name: str) -> Response:
    """One file of the install's NoCloud seed (deploy.json for image installs), for its token only."""
    if name not in SEED_FILES:
        return error_response(404, f"no such seed file; there are {', '.join(SEED_FILES)}")
    service = seedbed()
    install = service.lifecycle.for_seed(token, late=name in LATE_FILES, origin=origin())
    inv = service.inventory
    node = inv.node_by_hostname(install.hostname)
    if node is None:
        return error_response(410, "node is no longer in the inventory")
    urls = seeds.SeedUrls(inv.site.base_url, token)
    if name == "deploy.json":
        return _deploy_plan(install, node, urls)
    if name == "user-data":
        try:
            body = service.seed_texts.user_data(inv, node, urls, install.method, service.service_key())
        except SeedCheckError as exc:
            return error_response(409, str(exc))
    elif name == "meta-data":
        body = seeds.to_yaml(seeds.meta_data(inv, node, install.id))
    elif name == "vendor-data":
        body = seeds.vendor_data()
    else:
        body = seeds.provision_script(inv, node)
    service.lifecycle.seed_fetched(install, name)
    return Response(body, content_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": "no-store"})


def _deploy_plan(install: InstallRow, node: Node, urls: seeds.SeedUrls) -> Response:
    """The deploy ramdisk's plan: only for image installs, only until the image is written."""
    service = seedbed()
    if install.method != "image" or install.state == "installed":
        return error_response(404 if install.method != "image" else 403,
                              f"install #{install.id} has no deploy plan to serve")
    try:
        body = plan.deploy_plan(service.inventory, node, urls, service.settings.artifacts)
    except plan.PlanError as exc:
        return error_response(409, str(exc))
    service.lifecycle.seed_fetched(install, "deploy.json")
    return Response(json.dumps(body, indent=2) + "\n", content_type="application/json",
                    headers={"Cache-Control": "no-store"})
