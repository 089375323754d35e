"""Boot protocol endpoints: the static iPXE chain, and per-machine iPXE and GRUB scripts."""

from __future__ import annotations

from typing import Literal

from flask import Blueprint, Response, request

from .. import render
from ..boot import NetbootRequest, netboot
from ..errors import Conflict
from ..lan.signedboot import bootstrap_text, grub_fetch
from . import seedbed
from .contract import operation
from .models import ErrorAnswer, NetbootQuery

bp = Blueprint("boot", __name__)

_TEXT = "text/plain; charset=utf-8"
# Answered from memory alone (no lock, no store, no file): the HTTP server may run these in
# its loop thread (seedbed.httpserver.LimitedServer.add_task). Keep it true of them.
MEMORY_PATHS = frozenset({"/boot.ipxe"})
_SCRIPT = {200: ("text/plain",)}


def _netboot_request(query: NetbootQuery, loader: Literal["ipxe", "grub"]) -> NetbootRequest:
    def fact(value: str | None) -> str | None:
        return (value or "")[:64] or None

    return NetbootRequest(query.mac, fact(query.buildarch), fact(query.platform), fact(query.uuid),
                          request.remote_addr, loader)


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
    decision = netboot(service.inventory, service.lifecycle, _netboot_request(query, "ipxe"))
    return Response(render.ipxe_script(decision), content_type=_TEXT,
                    headers={"Cache-Control": "no-store"})


@bp.get("/grub")
@operation(answers={200: None, 409: ErrorAnswer}, media=_SCRIPT, query=NetbootQuery, tags=["boot"])
def grub(query: NetbootQuery) -> Response:
    """The same decision as a grub.cfg; 409 when the install's kernel is not on plain HTTP."""
    service = seedbed()
    decision = netboot(service.inventory, service.lifecycle, _netboot_request(query, "grub"))
    if decision.action == "refuse":
        raise Conflict(decision.reason)
    inv = service.inventory
    text = render.grub_config(decision, inv.site.base_url, grub_fetch(inv, decision.node))
    return Response(text, content_type=_TEXT, headers={"Cache-Control": "no-store"})


@bp.get("/grub/grub.cfg")
@operation(answers={200: None}, media=_SCRIPT, tags=["boot"])
def grub_bootstrap() -> Response:
    """The signed GRUB's first config under UEFI HTTP boot (its prefix is /grub on the server
    it came from): on to /grub?mac= for the machine that booted."""
    return Response(bootstrap_text(seedbed().inventory, over_http=True), content_type=_TEXT)
