"""JSON in and out of the service, strict: only what RFC 8259 and I-JSON allow.

Python's json accepts NaN, Infinity and 1e999 (→ inf) and emits them as bare words
other parsers refuse; it also recurses once per nesting level. Bodies from the LAN
are parsed here, so every such input is a ValueError (Flask answers 400), never a
stored NaN or a RecursionError (a 500).
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 32  # deeper than any body seedbed reads (the facts report is ~4)


def _refuse_constant(word: str) -> Any:
    raise ValueError(f"{word} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a JSON number")
    return value


def check_value(value: Any) -> None:
    """Refuse nesting deeper than MAX_DEPTH and strings that are not Unicode (lone surrogates)."""
    pending: list[tuple[Any, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, (dict, list)):
            if depth > MAX_DEPTH:
                raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise ValueError("JSON string is not valid Unicode (lone surrogate)") from None


def strict_loads(text: str | bytes) -> Any:
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    check_value(value)
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with strict parsing; emitting NaN/Infinity is an error, not output."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return strict_loads(s)

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        kwargs.setdefault("allow_nan", False)
        return super().dumps(obj, **kwargs)
