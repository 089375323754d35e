"""What a discovery boot runs: the deploy ramdisk, told to report and not to install."""

from __future__ import annotations

from ..inventory import BootProfile, ImageSettings, Inventory

REPORT_PATH = "/api/v1/discovery/"  # + token: web/discovery.py


def report_only_profile(inv: Inventory, token: str) -> BootProfile:
    """The deploy ramdisk with `seedbed.report=URL seedbed.then=poweroff|reboot`: its init
    (packer/deploy/init) posts the facts there and never touches a disk."""
    settings, image = inv.discovery, inv.image
    defaults = image or ImageSettings(file="unused")  # the image section's deploy_* defaults
    extra = settings.cmdline if settings.cmdline is not None else (image.cmdline if image else "")
    cmdline = f"seedbed.report={inv.site.base_url}{REPORT_PATH}{token} seedbed.then={settings.then}"
    return BootProfile(kernel=settings.kernel or defaults.deploy_kernel,
                       initrd=settings.initrd or defaults.deploy_initrd,
                       cmdline=f"{cmdline} {extra}".strip())
