"""One machine of the lab: its MACs, address, roles, GPUs, disk and install method."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from .fields import DNS_LABEL, Strict, listed_once, normalize_mac

Role = Literal["controlplane", "etcd", "worker"]

InstallMethod = Literal["autoinstall", "image"]


class DiskSelector(Strict):
    """Subiquity's storage match keys; `size` picks the largest or smallest disk."""

    serial: str | None = None
    model: str | None = None
    vendor: str | None = None
    path: str | None = None
    ssd: bool | None = None
    size: Literal["largest", "smallest"] | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> DiskSelector:
        if not self.model_dump(exclude_none=True):
            raise ValueError("disk selector needs at least one of serial, model, vendor, path, ssd, size")
        return self

    def match(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True)


class Node(Strict):
    hostname: str
    macs: Annotated[list[str], Field(min_length=1)]
    ip: ipaddress.IPv4Address
    roles: Annotated[list[Role], Field(min_length=1)]
    gpus: Annotated[int, Field(ge=0, le=16)] = 0
    disk: DiskSelector = DiskSelector(size="largest")
    install: InstallMethod = "autoinstall"
    profile: str | None = None
    adopted: bool = False
    secure_boot: bool | None = None  # default: site.secure_boot
    labels: dict[str, str] = {}

    @field_validator("hostname")
    @classmethod
    def _hostname(cls, v: str) -> str:
        if not DNS_LABEL.fullmatch(v):
            raise ValueError(f"{v!r} is not a lower-case RFC 1123 host name label")
        return v

    @field_validator("macs")
    @classmethod
    def _macs(cls, v: list[str]) -> list[str]:
        return [normalize_mac(m) for m in v]

    @field_validator("roles")
    @classmethod
    def _roles(cls, v: list[str]) -> list[str]:
        return listed_once(v, "a role")
