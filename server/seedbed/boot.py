"""Boot decisions: match a netboot request to a node, decide, and say what to boot.

match (MAC → node) → decide (armed? → install, else local disk; GRUB and an install it
cannot fetch → refuse; an unknown MAC with discovery.boot → the report-only ramdisk, once)
→ the web layer renders the decision as an iPXE or GRUB script.
`decide` is pure: the node's row and the time are passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal
from urllib.parse import urlsplit

from .discovery.boot import report_only_profile
from .discovery.reports import issue_report_token
from .inventory import BootProfile, Inventory, Node
from .lifecycle import Lifecycle, is_armed
from .releases import installer_files, node_release
from .store import NodeRow

CARRY_OVER = " ---"  # the installer's separator (see install_profile)


@dataclass(frozen=True)
class NetbootRequest:
    mac: str
    buildarch: str | None = None
    platform: str | None = None
    uuid: str | None = None
    address: str | None = None  # the client's IP address, which the install is pinned to
    loader: Literal["ipxe", "grub"] = "ipxe"  # GRUB fetches the kernel itself, over HTTP only


@dataclass(frozen=True)
class Decision:
    # refuse: an install this loader cannot boot (nothing is recorded, no install begins)
    # discover: the deploy ramdisk in report-only mode, for an unknown MAC (seedbed.discovery)
    action: Literal["install", "local", "refuse", "discover"]
    reason: str
    node: Node | None = None
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None


def install_profile(inv: Inventory, node: Node) -> BootProfile:
    """What an armed node boots: the deploy ramdisk (image installs), its named profile,
    or the Ubuntu live-server installer."""
    if node.install == "image" and inv.image is not None:
        # The ramdisk finds everything else in SEED/deploy.json (seedbed.deploy.plan).
        return BootProfile(kernel=inv.image.deploy_kernel, initrd=inv.image.deploy_initrd,
                           cmdline=inv.image.cmdline, seed="cloud-config")
    if node.profile is not None:
        return inv.profiles[node.profile]
    release = node_release(inv, node)
    kernel, initrd, iso = installer_files(inv, release)
    # curtin copies what follows ` --- ` into the installed system's GRUB defaults:
    # the installer's own arguments go before it, the admin's extra `cmdline` after.
    cmdline = f"ip=dhcp url={iso} cloud-config-url=/dev/null autoinstall{CARRY_OVER}"
    if inv.installer.cmdline:
        cmdline += f" {inv.installer.cmdline}"
    return BootProfile(kernel=kernel, initrd=initrd, cmdline=cmdline, seed="autoinstall",
                       datasource=release.datasource)


def install_method(inv: Inventory, node: Node) -> str:
    """How the node's install completes: the installer ("autoinstall"), an image, or first
    boot alone (its profile's seed)."""
    if node.install == "image":
        return "image"
    return install_profile(inv, node).seed


def artifact_url(inv: Inventory, location: str) -> str:
    if location.startswith(("http://", "https://")):
        return location
    return f"{inv.site.base_url}/files/{location.lstrip('/')}"


def grub_fetch_problem(url: str) -> str | None:
    """Why GRUB cannot fetch `url` itself (it speaks plain HTTP only), or None."""
    if urlsplit(url).scheme != "http":
        return f"GRUB can only fetch over plain HTTP, not {url!r}"
    return None


def decide(inv: Inventory, request: NetbootRequest, node_row: Callable[[Node], NodeRow | None],
           now: float, reported: Callable[[str], bool] = lambda _mac: False) -> Decision:
    """What this machine boots now: pure (previews use it too), one decision per request.
    `reported`: whether an unknown MAC has reported its hardware already."""
    node = inv.node_by_mac(request.mac)
    if node is None:
        if inv.discovery.boot and not reported(request.mac):
            refused = _grub_refusal(inv, request, report_only_profile(inv, token=""), request.mac)
            return refused or Decision("discover", f"unknown MAC {request.mac}: discovery boot "
                                                   "(reports its hardware)")
        return Decision("local", f"unknown MAC {request.mac}: recorded as discovered")
    row = node_row(node)
    if not is_armed(row, now):
        state = row.state if row else "unknown"
        return Decision("local", f"{node.hostname} is {state}, not armed for install", node)
    if node.install == "image" and inv.image is None:
        return Decision("local", "install: image but the inventory has no image: section", node)
    refused = _grub_refusal(inv, request, install_profile(inv, node), node.hostname, node)
    return refused or Decision("install", f"{node.hostname} is armed for install", node)


def _grub_refusal(inv: Inventory, request: NetbootRequest, profile: BootProfile, who: str,
                  node: Node | None = None) -> Decision | None:
    """GRUB fetches the kernel and initrd itself: refuse what it cannot fetch."""
    if request.loader != "grub":
        return None
    for location in (profile.kernel, profile.initrd):
        problem = grub_fetch_problem(artifact_url(inv, location))
        if problem:
            return Decision("refuse", f"{who}: {problem}; boot it with iPXE", node)
    return None


def decide_now(inv: Inventory, lifecycle: Lifecycle, request: NetbootRequest) -> Decision:
    """`decide` with the node's row from the store (or the one it would get) and the clock."""
    return decide(inv, request, lambda node: lifecycle.row(node, inv.site), lifecycle.clock(),
                  lifecycle.store.has_discovered_facts)


def with_installer_args(cmdline: str, args: str) -> str:
    """`args` added for the installer alone: before ` --- ` when the line has one."""
    head, sep, tail = f" {cmdline} ".partition(f"{CARRY_OVER} ")
    return f"{head.strip()} {args}{sep}{tail.rstrip()}".strip()


def with_seed(inv: Inventory, decision: Decision, install_id: int | None, token: str,
              mac: str | None = None) -> Decision:
    """Fill in the install's kernel, initrd and command line, pointing at its seed."""
    assert decision.node is not None
    profile = install_profile(inv, decision.node)
    seed = f"{inv.site.base_url}/seed/{token}/"
    # BOOTIF names the NIC that booted, so the installer's `ip=dhcp` uses that one.
    ours = f"ds={profile.datasource};s={seed}" + (f" BOOTIF=01-{mac.replace(':', '-')}" if mac else "")
    cmdline = with_installer_args(profile.cmdline, ours)
    reason = f"{decision.reason}: install #{install_id}" if install_id else decision.reason
    return replace(decision, reason=reason, kernel=artifact_url(inv, profile.kernel),
                   initrd=artifact_url(inv, profile.initrd), cmdline=cmdline)


def with_report_token(inv: Inventory, decision: Decision, token: str) -> Decision:
    """Fill in a discovery boot's kernel, initrd and command line, with its report token."""
    profile = report_only_profile(inv, token)
    return replace(decision, kernel=artifact_url(inv, profile.kernel),
                   initrd=artifact_url(inv, profile.initrd), cmdline=profile.cmdline)


def netboot(inv: Inventory, lifecycle: Lifecycle, request: NetbootRequest) -> Decision:
    """Decide, record what was decided, and begin an install when the node is armed."""
    decision = decide_now(inv, lifecycle, request)
    node = decision.node
    if decision.action == "refuse":
        return decision  # nothing to record: the machine is told why (409), not booted
    if node is None:
        lifecycle.discovered(request.mac, {"buildarch": request.buildarch,
                                           "platform": request.platform, "uuid": request.uuid})
        if decision.action == "discover":
            token = issue_report_token(lifecycle.store, lifecycle.clock(), request.mac, request.address)
            return with_report_token(inv, decision, token)
        return decision
    if decision.action == "local":
        lifecycle.local_boot(node, request.mac, decision.reason)
        return decision
    method = install_method(inv, node)
    issued = lifecycle.begin_install(node, request.mac, method, inv.site.seed_ttl_minutes * 60,
                                     request.address)
    return with_seed(inv, decision, issued.install_id, issued.token, request.mac)
