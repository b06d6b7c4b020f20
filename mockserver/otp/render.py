"""Fill `{{name}}` variables; a variable with no value stays as the literal `{{name}}`."""

from __future__ import annotations

import re
from collections.abc import Mapping

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z0-9_]+)\s*\}\}")


def render(text: str, values: Mapping[str, str]) -> str:
    """Replace each known variable; unknown ones are delivered literally, as EngageLab does."""

    def fill(match: re.Match[str]) -> str:
        value = values.get(match.group(1))
        return match.group(0) if value is None else value

    return _VARIABLE.sub(fill, text)

