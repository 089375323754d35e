"""What an unknown MAC boots: the local disk (default), or the deploy ramdisk in report-only mode."""

from __future__ import annotations

from typing import Literal

from pydantic import StrictBool, ValidationInfo, field_validator

from .fields import Strict, files_location


class DiscoverySettings(Strict):
    """`discovery: {boot: true}` sends unknown machines the deploy ramdisk once, to report
    their hardware (seedbed.discovery); they power off afterwards (`then: reboot` boots the
    local disk instead, since a machine that has reported gets the local disk).

    kernel, initrd and cmdline default to the image section's deploy_kernel, deploy_initrd
    and cmdline, else to deploy/vmlinuz and deploy/initrd.img under the files folder.
    """

    boot: StrictBool = False
    then: Literal["poweroff", "reboot"] = "poweroff"
    kernel: str | None = None
    initrd: str | None = None
    cmdline: str | None = None

    @field_validator("kernel", "initrd", "cmdline")
    @classmethod
    def _boot_line(cls, v: str | None, info: ValidationInfo) -> str | None:
        return None if v is None else files_location(v, info.field_name)
