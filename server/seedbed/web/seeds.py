"""The NoCloud seed of one install: served only for its token, while it is armed."""

from __future__ import annotations

from flask import Blueprint, Response

from .. import seeds
from ..lifecycle import Denied
from . import denied, seedbed

bp = Blueprint("seeds", __name__)

SEED_FILES = ("user-data", "meta-data", "vendor-data", "provision.sh")


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
    if name == "user-data":
        body = seeds.user_data(inv, node, urls, install.method)
    elif name == "meta-data":
        body = seeds.to_yaml(seeds.meta_data(inv, node, install.id))
    elif name == "vendor-data":
        body = seeds.vendor_data()
    else:
        body = seeds.provision_script(inv, node)
    service.lifecycle.seed_fetched(install, name)
    return Response(body, content_type="text/plain; charset=utf-8",
                    headers={"Cache-Control": "no-store"})
