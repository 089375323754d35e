"""Checks of rendered seeds before any machine sees them (as Foreman checks its templates)."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jsonschema
import yaml

from . import seeds
from .boot import install_method
from .inventory import Inventory
from .releases import DEFAULT_RELEASE, node_release, release
from .resources import data_file

# libyaml's loader: the check reads every rendering, and the pure-Python one took 13 ms of
# a user-data's 15 (the same documents load the same either way).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@cache
def _autoinstall_validator(release_name: str) -> jsonschema.Draft202012Validator:
    path = data_file("autoinstall", release(release_name).schema)
    return jsonschema.Draft202012Validator(json.loads(path.read_text(encoding="utf-8")))


def autoinstall_problems(user_data: str, release_name: str = DEFAULT_RELEASE) -> list[str]:
    """What that release's installer would reject, or silently drop, in this user-data."""
    if not user_data.startswith("#cloud-config\n"):
        return ["user-data must start with '#cloud-config'"]
    document: Any = yaml.load(user_data, Loader=_Loader)  # noqa: S506 - a safe loader
    if not isinstance(document, dict) or set(document) != {"autoinstall"}:
        return ["user-data must hold exactly one top-level key, autoinstall"]
    config = document["autoinstall"]
    problems = [
        f"autoinstall.{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in sorted(_autoinstall_validator(release_name).iter_errors(config), key=lambda e: e.json_path)
    ]
    if config.get("interactive-sections"):
        problems.append("interactive-sections turns reporting off")
    late = config.get("late-commands", [])
    if late and "/callback/" not in str(late[-1]):
        problems.append("the last late-command must post the installed callback")
    return problems


PREVIEW_TOKEN = "PREVIEW-TOKEN"  # noqa: S105 - stands in for the per-install token in previews


def seed_problems(inv: Inventory) -> list[str]:
    """Render every node's installer seed and check it, as the installer would."""
    problems = []
    for node in inv.nodes:
        if install_method(inv, node) != "autoinstall":
            continue
        text = seeds.user_data(inv, node, seeds.SeedUrls(inv.site.base_url, PREVIEW_TOKEN),
                               "autoinstall")
        found = autoinstall_problems(text, node_release(inv, node).name)
        problems += [f"{node.hostname} user-data: {p}" for p in found]
    return problems
