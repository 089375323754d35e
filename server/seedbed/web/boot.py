"""Boot protocol endpoints: the static iPXE chain, and per-machine iPXE and GRUB scripts."""

from __future__ import annotations

from flask import Blueprint, Response, abort, request

from .. import render
from ..boot import NetbootRequest, artifact_url, decide, install_profile, netboot
from ..discovery.boot import report_only_profile
from . import seedbed
from .contract import operation
from .errors import error_response
from .models import ErrorAnswer, NetbootQuery

bp = Blueprint("boot", __name__)

_TEXT = "text/plain; charset=utf-8"
_SCRIPT = {200: ("text/plain",)}


def _netboot_request(query: NetbootQuery) -> NetbootRequest:
    def fact(value: str | None) -> str | None:
        return (value or "")[:64] or None

    return NetbootRequest(query.mac, fact(query.buildarch), fact(query.platform), fact(query.uuid),
                          request.remote_addr)


@bp.get("/boot.ipxe")
@operation(answers={200: None}, media=_SCRIPT, tags=["boot"])
def chain() -> Response:
    """The static iPXE script DHCP points at: chains to /ipxe with the booting NIC's MAC."""
    script = render.chain_script(seedbed().inventory.site.base_url)
    return Response(script, content_type=_TEXT)


@bp.get("/ipxe")
@operation(answers={200: None}, media=_SCRIPT, query=NetbootQuery, tags=["boot"])
def ipxe(query: NetbootQuery) -> Response:
    """This machine's iPXE script: the installer with its seed when armed, else the local disk."""
    service = seedbed()
    decision = netboot(service.inventory, service.lifecycle, _netboot_request(query))
    return Response(render.ipxe_script(decision), content_type=_TEXT,
                    headers={"Cache-Control": "no-store"})


@bp.get("/grub")
@operation(answers={200: None, 409: ErrorAnswer}, media=_SCRIPT, query=NetbootQuery, tags=["boot"])
def grub(query: NetbootQuery) -> Response:
    """The same decision as a grub.cfg; 409 when the install's kernel is not on plain HTTP."""
    service = seedbed()
    request_ = _netboot_request(query)
    _refuse_what_grub_cannot_fetch(request_)
    decision = netboot(service.inventory, service.lifecycle, request_)
    return Response(render.grub_config(decision, service.inventory.site.base_url), content_type=_TEXT,
                    headers={"Cache-Control": "no-store"})


def _refuse_what_grub_cannot_fetch(request_: NetbootRequest) -> None:
    """Before an install begins: GRUB fetches the kernel and initrd itself, over HTTP only."""
    service = seedbed()
    inv = service.inventory
    decision = decide(inv, service.lifecycle, request_)
    if decision.action == "discover":
        profile = report_only_profile(inv, token="")
    elif decision.action == "install" and decision.node is not None:
        profile = install_profile(inv, decision.node)
    else:
        return
    for location in (profile.kernel, profile.initrd):
        try:
            render.grub_path(artifact_url(inv, location), inv.site.base_url)
        except ValueError as exc:
            who = decision.node.hostname if decision.node else request_.mac
            abort(error_response(409, f"{who}: {exc}; boot it with iPXE"))
