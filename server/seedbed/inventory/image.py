"""The golden image that `install: image` nodes receive, and its deploy ramdisk."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator

from .fields import Strict, files_location


class ImageSettings(Strict):
    """The golden image `install: image` nodes receive, and the deploy ramdisk that writes it.

    Paths are relative to the files folder (served at /files/) unless they are URLs.
    """

    file: str  # e.g. golden/seedbed-golden.raw.zst
    sha256: str | None = None  # default: read from FILE.sha256 beside the image
    format: Literal["raw.zst", "raw"] = "raw.zst"
    deploy_kernel: str = "deploy/vmlinuz"
    deploy_initrd: str = "deploy/initrd.img"
    cmdline: str = ""  # extra kernel arguments for the deploy ramdisk, e.g. console=ttyS0
    root_partition: Annotated[int, Field(ge=1, le=128)] | None = None  # default: the last one

    @field_validator("file", "deploy_kernel", "deploy_initrd", "cmdline")
    @classmethod
    def _boot_line(cls, v: str, info: ValidationInfo) -> str:
        return files_location(v, info.field_name)

    @field_validator("sha256")
    @classmethod
    def _sha256(cls, v: str | None) -> str | None:
        if v is not None and not re.fullmatch(r"[0-9a-f]{64}", v):
            raise ValueError("sha256 must be 64 lower-case hex digits")
        return v

    def is_url(self) -> bool:
        return self.file.startswith(("http://", "https://"))
