"""The accept form's pre-fill for a discovered machine, from its reported facts."""

from __future__ import annotations

from typing import Any

from .facts import NVIDIA


def suggest_accept(facts: dict[str, Any] | None, mac: str | None = None) -> dict[str, Any]:
    """hostname, roles, gpus and a disk selector for the accept form.

    `mac` (the booting NIC) names the host; without it, the first NIC reported. The disk
    selector pins the largest non-removable disk by serial (`disk: {serial: ...}`, the
    inventory's selector syntax, seedbed.disks); a disk without a serial by its model,
    and no disk reported gives the inventory's default (`size: largest`).
    """
    facts = facts or {}
    gpus = sum(1 for gpu in facts.get("gpus") or [] if gpu.get("vendor_id") == NVIDIA)
    return {"hostname": _hostname(facts, mac, gpus), "roles": ["worker"], "gpus": gpus,
            "disk": system_disk_selector(facts.get("disks") or [])}


def system_disk_selector(disks: list[dict[str, Any]]) -> dict[str, Any]:
    fixed = [d for d in disks if not d.get("removable") and d.get("transport") != "usb"]
    if not fixed:
        return {"size": "largest"}
    largest = max(fixed, key=lambda d: d.get("size_bytes") or 0)
    if largest.get("serial"):
        return {"serial": largest["serial"]}
    if largest.get("model"):
        return {"model": largest["model"], "size": "largest"}
    return {"size": "largest"}


def _hostname(facts: dict[str, Any], mac: str | None, gpus: int) -> str:
    nics = facts.get("nics") or []
    mac = mac or (nics[0]["mac"] if nics else None)
    suffix = mac.replace(":", "")[-6:] if mac else "new"
    return f"{'gpu' if gpus else 'node'}-{suffix}"
