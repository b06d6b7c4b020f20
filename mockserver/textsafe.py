"""Values from requests, made safe to print on one line: control characters escaped, long
values cut. A dev_key or a path with a newline must not forge a log line."""

from __future__ import annotations

LIMIT = 120


def shown(value: object, limit: int = LIMIT) -> str:
    """`value` as printable text of at most `limit` characters (and a note of its length)."""
    text = str(value)
    if not text.isprintable():
        text = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)
    if len(text) > limit:
        return f"{text[:limit]}...({len(text)} characters)"
    return text
