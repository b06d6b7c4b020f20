"""Fill `{{name}}` variables; a variable with no value stays as the literal `{{name}}`."""

from __future__ import annotations

import re
from collections.abc import Mapping

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


class TooLong(ValueError):
    """The rendered text would pass the limit it was given (it is not built beyond it)."""


def render(text: str, values: Mapping[str, str], limit: int | None = None) -> str:
    """Replace each known variable; unknown ones are delivered literally, as EngageLab does.

    With `limit` (characters), stop with TooLong as soon as the text would pass it: a template
    that names a long param many times never builds its whole text in memory."""
    grown = [len(text)]

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        if value is None:
            return match.group(0)
        grown[0] += len(value) - len(match.group(0))
        if limit is not None and grown[0] > limit:
            raise TooLong(grown[0])
        return value

    return _VARIABLE.sub(fill, text)
