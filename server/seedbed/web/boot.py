"""Boot protocol endpoints: the static iPXE chain, and per-machine iPXE and GRUB scripts."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from .. import render
from ..boot import NetbootRequest, netboot
from ..inventory import normalize_mac
from . import seedbed

bp = Blueprint("boot", __name__)

_TEXT = "text/plain; charset=utf-8"


def _netboot_request() -> NetbootRequest:
    try:
        mac = normalize_mac(request.args.get("mac", ""))
    except ValueError as exc:
        abort(Response(f"# seedbed: {exc}\n", 400, content_type=_TEXT))

    def arg(name: str) -> str | None:
        value = request.args.get(name, "")[:64]
        return value or None

    return NetbootRequest(mac, arg("buildarch"), arg("platform"), arg("uuid"), request.remote_addr)


@bp.get("/boot.ipxe")
def chain() -> Response:
    script = render.chain_script(seedbed().inventory.site.base_url)
    return Response(script, content_type=_TEXT)


@bp.get("/ipxe")
def ipxe() -> Response:
    service = seedbed()
    decision = netboot(service.inventory, service.lifecycle, _netboot_request())
    return Response(render.ipxe_script(decision), content_type=_TEXT,
                    headers={"Cache-Control": "no-store"})


@bp.get("/grub")
def grub() -> Response:
    service = seedbed()
    decision = netboot(service.inventory, service.lifecycle, _netboot_request())
    return Response(render.grub_config(decision), content_type=_TEXT,
                    headers={"Cache-Control": "no-store"})
