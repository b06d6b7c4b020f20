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


KNOWN_SCHEMES = ("basic", "bearer", "token")  # an Authorization's first word shown only when one of these


def masked_authorization(value: str, mask: str = "***") -> str:
    """An Authorization value with its credentials masked: `Bearer ***` when its scheme is a
    known one (Basic, Bearer, Token), else all of it (a first word may be the secret itself)."""
    scheme, sep, _ = value.strip().partition(" ")
    return f"{scheme} {mask}" if sep and scheme.lower() in KNOWN_SCHEMES else mask
