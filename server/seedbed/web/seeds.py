"""The NoCloud seed of one install: served only for its token, while it is armed."""

from __future__ import annotations

import json

from flask import Blueprint, Response, jsonify

from .. import seeds
from ..deploy import plan
from ..inventory import Node
from ..lifecycle import Denied
from ..store import InstallRow
from . import denied, seedbed

bp = Blueprint("seeds", __name__)

SEED_FILES = ("user-data", "meta-data", "vendor-data", "provision.sh", "deploy.json")


@bp.get("/seed/<token>/<name>")
def seed_file(token: str, name: str) -> Response:
    if name not in SEED_FILES:
        return Response("no such seed file\n", 404, content_type="text/plain")
    service = seedbed()
    try:
        install = service.lifecycle.for_seed(token)
    except Denied as exc:
        return denied(exc)
    inv = service.inventory
    node = inv.node_by_hostname(install.hostname)
    if node is None:
        return Response("node is no longer in the inventory\n", 410, content_type="text/plain")
    urls = seeds.SeedUrls(inv.site.base_url, token)
    if name == "deploy.json":
        return _deploy_plan(install, node, urls)
    if name == "user-data":
        body = service.seed_texts.user_data(inv, node, urls, install.method, service.service_key())
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
        response = jsonify(error=f"install #{install.id} has no deploy plan to serve")
        response.status_code = 404 if install.method != "image" else 403
        return response
    try:
        body = plan.deploy_plan(service.inventory, node, urls, service.settings.artifacts)
    except plan.PlanError as exc:
        response = jsonify(error=str(exc))
        response.status_code = 409
        return response
    service.lifecycle.seed_fetched(install, "deploy.json")
    return Response(json.dumps(body, indent=2) + "\n", content_type="application/json",
                    headers={"Cache-Control": "no-store"})
