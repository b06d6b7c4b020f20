"""Read a JSON request body the way a careful server does; every failure is a 3001."""

from __future__ import annotations

import json
import math
from typing import Any

from mockserver.errors import ApiError

_HOW = "send a JSON object with 'Content-Type: application/json'"


def is_json_type(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def parse_json(raw: bytes, content_type: str | None, max_depth: int = 32) -> Any:
    """The decoded body, or ApiError 3001 naming what is wrong and how to fix it."""
    if not is_json_type(content_type):
        got = repr(content_type) if content_type else "none"
        raise ApiError(3001, f"invalid request body: expected Content-Type application/json, got {got}; {_HOW}")
    if not raw.strip():
        raise ApiError(3001, f"invalid request body: the body is empty; {_HOW}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(3001, f"invalid request body: not valid UTF-8 (byte {raw[exc.start]:#04x} "
                             f"at offset {exc.start})") from None
    if text.startswith("\ufeff"):
        raise ApiError(3001, "invalid request body: not valid json: it starts with a UTF-8 byte order mark; "
                             "send the JSON without it")
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise ApiError(3001, f"invalid request body: not valid json: {exc.msg} at line {exc.lineno} "
                             f"column {exc.colno}") from None
    except RecursionError:
        raise ApiError(3001, f"invalid request body: nested deeper than {max_depth} levels") from None
    except ValueError as exc:  # NaN/Infinity, or an integer with too many digits
        raise ApiError(3001, f"invalid request body: not valid json: {exc}") from None
    if "\\u" in text or text.count("{") + text.count("[") > max_depth:  # else it cannot fail
        _check_tree(value, max_depth)
    return value


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float | int:
    """A JSON number with a fraction or exponent; a whole one (`6.0`, `6e0`) becomes the int it is,
    so a value a schema accepts as an integer is stored as one (a template's `"verify_code_len":
    6.0` was kept as a float, and every send then failed)."""
    value = float(text)
    if not math.isfinite(value):  # 1e400 parses as infinity, which JSON cannot carry back
        raise ValueError(f"number {text[:20]} is out of range")
    if value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


# One decoder for every body: json.loads with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)


def _check_tree(value: Any, max_depth: int) -> None:
    """Reject bodies nested too deeply or holding strings that are not valid Unicode. Only an
    escape (\\uD800) makes a lone surrogate: valid UTF-8 cannot carry one. A body with no more
    brackets than `max_depth` cannot nest deeper."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, (dict, list)):
            if depth > max_depth:
                raise ApiError(3001, f"invalid request body: nested deeper than {max_depth} levels")
            children = item.items() if isinstance(item, dict) else enumerate(item)
            for key, child in children:
                if isinstance(key, str):
                    _check_text(key)
                stack.append((child, depth + 1))


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = ord(text[exc.start])
        raise ApiError(3001, f"invalid request body: unpaired surrogate \\u{bad:04x} in a string") from None
