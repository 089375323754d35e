"""Reading an inventory file: YAML with line numbers, every problem reported at once."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .model import Inventory
from .node import Node
from .rules import Problem, cluster_problems, cross_check, dotted, image_problems, lan_problems, line_for
from .site import Site


class InventoryError(Exception):
    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        super().__init__(f"{source}: {len(errors)} problem(s)\n" + "\n".join(map(str, problems)))


@dataclass(frozen=True)
class LoadedInventory:
    inventory: Inventory
    warnings: list[Problem]


def load_inventory(path: str | Path) -> LoadedInventory:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(str(path), [Problem("<file>", f"cannot read: {exc.strerror}")]) from exc
    return parse_inventory(text, source=str(path))


def parse_inventory(text: str, source: str = "<inventory>") -> LoadedInventory:
    """Parse and check an inventory; raise InventoryError listing every problem."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise InventoryError(source, [Problem("<document>", f"not valid YAML: {exc}", line)]) from exc
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    if root is not None:
        _index_lines(root, (), lines, problems)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise InventoryError(source, [Problem("<document>", "the inventory must be a YAML mapping")])
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, lines))
        # Still report what the valid parts break between them: every problem at once.
        site, nodes, profiles = _valid_parts(data)
        problems.extend(cross_check(site, nodes, profiles, lines, complete=False))
        raise InventoryError(source, problems) from exc
    problems.extend(cross_check(inventory.site, list(enumerate(inventory.nodes)),
                                inventory.profiles, lines))
    problems.extend(lan_problems(inventory, lines))
    problems.extend(cluster_problems(inventory, lines))
    problems.extend(image_problems(inventory, lines))
    if any(p.severity == "error" for p in problems):
        raise InventoryError(source, problems)
    inventory = inventory.model_copy(update={"admin": inventory.admin.hashed()})
    return LoadedInventory(inventory, [p for p in problems if p.severity == "warning"])


def _index_lines(node: yaml.Node, path: tuple, out: dict[tuple, int], problems: list[Problem]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                problems.append(
                    Problem(dotted(path + (key,)), "duplicate key", key_node.start_mark.line + 1)
                )
            seen.add(key)
            out[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), out, problems)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), out, problems)


def _pydantic_problems(exc: ValidationError, lines: dict[tuple, int]) -> Iterator[Problem]:
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        if err["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "literal_error":
            message = f"{err['input']!r} is not allowed: {str(err['msg']).removeprefix('Input ')}"
        else:
            message = str(err["msg"]).removeprefix("Value error, ")
        yield Problem(dotted(loc), message, line_for(loc, lines))


def _valid_parts(data: dict[str, Any]) -> tuple[Site | None, list[tuple[int, Node]], dict]:
    def valid(model: type[BaseModel], value: Any) -> Any:
        try:
            return model.model_validate(value)
        except ValidationError:
            return None

    site = valid(Site, data.get("site"))
    raw_nodes = data.get("nodes") if isinstance(data.get("nodes"), list) else []
    nodes = [(i, n) for i, n in enumerate(valid(Node, raw) for raw in raw_nodes) if n is not None]
    profiles = data.get("profiles") if isinstance(data.get("profiles"), dict) else {}
    return site, nodes, profiles
