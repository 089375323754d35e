"""The deploy plan: what a node's deploy ramdisk fetches from /seed/TOKEN/deploy.json.

The kernel command line carries only the seed URL; the plan carries the rest as
JSON (image URL and sha256, disk selector, callback URLs), so no inventory value
ever has to survive kernel command-line parsing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ..boot import artifact_url
from ..disks import ramdisk_selector
from ..inventory import ImageSettings, Inventory, Node
from ..seeds import SeedUrls

PLAN_VERSION = 1
_SHA256_LINE = re.compile(r"^([0-9a-fA-F]{64})(?:\s|$)")


class PlanError(Exception):
    """No plan can be served; the message is safe to show the machine and the admin."""


def image_sha256(image: ImageSettings, files_dir: Path) -> str:
    """The inventory's sha256, else the first field of FILE.sha256 beside the image."""
    if image.sha256:
        return image.sha256
    if image.is_url():
        raise PlanError("image.sha256 is required for an image served from a URL")
    sidecar = files_dir / f"{image.file}.sha256"
    try:
        first = sidecar.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise PlanError(f"no image.sha256 in the inventory and no {image.file}.sha256 in the "
                        f"files folder ({exc.strerror})") from exc
    found = _SHA256_LINE.match(first)
    if not found:
        raise PlanError(f"{image.file}.sha256 does not start with a sha256 digest")
    return found.group(1).lower()


def deploy_plan(inv: Inventory, node: Node, urls: SeedUrls, files_dir: Path) -> dict[str, Any]:
    image = inv.image
    if image is None:
        raise PlanError("the inventory has no image: section")
    return {
        "version": PLAN_VERSION,
        "hostname": node.hostname,
        "image": {"url": artifact_url(inv, image.file), "sha256": image_sha256(image, files_dir),
                  "format": image.format},
        "disk": ramdisk_selector(node.disk),
        "root_partition": image.root_partition,
        "seed": urls.seed,
        "report": urls.report,
        "installed": urls.callback("installed"),
        "failed": urls.callback("failed"),
    }
