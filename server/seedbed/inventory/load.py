"""Reading an inventory file: YAML with line numbers, every problem reported at once."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from .. import limits
from ..errors import SeedbedError
from .model import Inventory
from .node import Node
from .rules import (
    Problem,
    cluster_problems,
    cross_check,
    dotted,
    image_problems,
    lan_problems,
    line_for,
    secure_boot_problems,
)
from .site import Site


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML 1.1's safe loader (libyaml's where installed) that names the value it cannot read.

    Python's int(), float() and the date constructors raise ValueError for a
    5,000-digit number or a 13th month; here that becomes a YAML error with a line.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            shown = str(node.value)[:40] + ("..." if len(str(node.value)) > 40 else "")
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {shown!r} as {node.tag.rsplit(':', 1)[-1]}: "
                f"{str(exc)[:120]}", node.start_mark) from None


class InventoryError(SeedbedError):
    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        errors = [p for p in problems if p.severity == "error"]
        if len(problems) == 1:  # one line, as every other error the CLI prints
            super().__init__(f"{source}: {problems[0]}")
        else:
            super().__init__(f"{source}: {len(errors)} problem(s)\n" + "\n".join(map(str, problems)))


@dataclass(frozen=True)
class LoadedInventory:
    inventory: Inventory
    warnings: list[Problem]


def load_inventory(path: str | Path) -> LoadedInventory:
    path = Path(path)
    try:
        with path.open("rb") as f:
            raw = f.read(limits.INVENTORY_MAX_BYTES + 1)
    except OSError as exc:
        raise InventoryError(str(path), [Problem("<file>", f"cannot read: {exc.strerror}")]) from exc
    return parse_inventory(raw, source=str(path))


def parse_inventory(text: str | bytes, source: str = "<inventory>") -> LoadedInventory:
    """Parse and check an inventory; raise InventoryError listing every problem."""
    root = _compose(_decode(text, source), source)
    lines: dict[tuple, int] = {}
    problems: list[Problem] = []
    numbers: dict[tuple, str] = {}  # unquoted numbers' text, to explain type errors
    if root is not None:
        _index_lines(root, (), lines, problems, numbers)
    data = _construct(root, source)
    if not isinstance(data, dict):
        raise InventoryError(source, [Problem("<document>", "the inventory must be a YAML mapping")])
    try:
        inventory = Inventory.model_validate(data)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(exc, lines, numbers))
        # Still report what the valid parts break between them: every problem at once.
        site, nodes, profiles = _valid_parts(data)
        problems.extend(cross_check(site, nodes, profiles, lines, complete=False))
        raise InventoryError(source, problems) from exc
    problems.extend(cross_check(inventory.site, list(enumerate(inventory.nodes)),
                                inventory.profiles, lines))
    problems.extend(lan_problems(inventory, lines))
    problems.extend(cluster_problems(inventory, lines))
    problems.extend(image_problems(inventory, lines))
    problems.extend(secure_boot_problems(inventory, lines))
    if any(p.severity == "error" for p in problems):
        raise InventoryError(source, problems)
    inventory = inventory.model_copy(update={"admin": inventory.admin.hashed()})
    return LoadedInventory(inventory, [p for p in problems if p.severity == "warning"])


def _decode(text: str | bytes, source: str) -> str:
    """UTF-8 text no larger than the limit, or InventoryError naming the line."""
    size = len(text.encode("utf-8") if isinstance(text, str) else text)
    if size > limits.INVENTORY_MAX_BYTES:
        raise InventoryError(source, [Problem("<file>", f"larger than {limits.INVENTORY_MAX_BYTES} "
                                              "bytes: not read (seedbed.limits)")])
    if isinstance(text, str):
        return text
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        raise InventoryError(source, [Problem("<document>", f"not UTF-8 text: byte "
                                              f"0x{text[exc.start]:02x} at offset {exc.start}",
                                              line)]) from None


def _compose(text: str, source: str) -> yaml.Node | None:
    """The YAML node graph, refused early when nested too deep or expanding too far.

    libyaml's event stream is read flat first: the composer and every walk after it
    recurse once per level, so depth is bounded before anything recurses.
    """
    try:
        depth = 0
        for event in yaml.parse(text, Loader=_Loader):
            if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
                depth += 1
                if depth > limits.INVENTORY_MAX_DEPTH:
                    raise _refused(source, f"nested deeper than {limits.INVENTORY_MAX_DEPTH} "
                                   "levels", event.start_mark)
            elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
                depth -= 1
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise _not_yaml(source, exc) from None
    if root is not None and _expanded_size(root, {}) > limits.INVENTORY_MAX_VALUES:
        raise _refused(source, f"its aliases expand to more than {limits.INVENTORY_MAX_VALUES} "
                       "values (a YAML alias bomb?)", _first_alias_mark(text))
    return root


def _construct(root: yaml.Node | None, source: str) -> Any:
    """Python data from the checked node graph; unknown tags (!!python/...) are YAML errors."""
    if root is None:
        return None
    loader = _Loader("")
    try:
        return loader.construct_document(root)
    except yaml.YAMLError as exc:
        raise _not_yaml(source, exc) from None
    finally:
        loader.dispose()


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """How many values the graph holds once every alias is copied out (linear time)."""
    if id(node) not in memo:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        memo[id(node)] = 1 + sum(_expanded_size(child, memo) for child in children)
    return memo[id(node)]


def _first_alias_mark(text: str) -> yaml.Mark | None:
    event = next((e for e in yaml.parse(text, Loader=_Loader) if isinstance(e, yaml.AliasEvent)), None)
    return event.start_mark if event else None


def _refused(source: str, why: str, mark: yaml.Mark | None) -> InventoryError:
    return InventoryError(source, [Problem("<document>", f"refused: {why}",
                                           mark.line + 1 if mark else None)])


def _not_yaml(source: str, exc: yaml.YAMLError) -> InventoryError:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line = mark.line + 1 if mark else None
    what = str(getattr(exc, "problem", None) or exc).strip()
    return InventoryError(source, [Problem("<document>", f"not valid YAML: {what}", line)])


def _index_lines(node: yaml.Node, path: tuple, out: dict[tuple, int], problems: list[Problem],
                 numbers: dict[tuple, str]) -> None:
    """Record each path's line, duplicate keys, and the text of unquoted numbers."""
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else f"<{key_node.tag}>"
            if key in seen:
                problems.append(
                    Problem(dotted(path + (key,)), "duplicate key", key_node.start_mark.line + 1)
                )
            seen.add(key)
            out[path + (key,)] = key_node.start_mark.line + 1
            _index_lines(value_node, path + (key,), out, problems, numbers)
            out[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, path + (i,), out, problems, numbers)
    elif node.tag in (_INT_TAG, _FLOAT_TAG) and not node.style:  # plain: None or ""
        numbers[path] = node.value


_INT_TAG, _FLOAT_TAG = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"
# YAML 1.1 reads digit groups joined by colons (52:54:00:12:34:56) as one base-60 number.
_BASE_60 = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")


def _pydantic_problems(exc: ValidationError, lines: dict[tuple, int],
                       numbers: dict[tuple, str]) -> Iterator[Problem]:
    for err in exc.errors():
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        text = numbers.get(loc, "")
        if err["type"] == "extra_forbidden":
            message = f"unknown key {loc[-1]!r}"
        elif err["type"] == "missing":
            message = "required key is missing"
        elif err["type"] == "literal_error":
            message = f"{err['input']!r} is not allowed: {str(err['msg']).removeprefix('Input ')}"
        elif err["type"] == "string_type" and _BASE_60.fullmatch(text):
            message = (f"unquoted {text} was read by YAML 1.1 as the base-60 (sexagesimal) number "
                       f"{err['input']}: put it in quotes, \"{text}\"")
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
