"""Names a package exports without importing them when it loads (PEP 562). Pure.

    __getattr__, __dir__ = lazy_exports(__name__, {"OtpMock": "mockserver.mock"}, globals(), __all__)
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_exports(package: str, table: Mapping[str, str], namespace: dict[str, Any],
                 public: Sequence[str]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """A package's `__getattr__`, which imports `name` from `table[name]` on first use and keeps
    it (the next lookup is a plain attribute), and its `__dir__`."""

    def get(name: str) -> Any:
        module = table.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = namespace[name] = getattr(importlib.import_module(module), name)
        return value

    def listing() -> list[str]:
        return sorted([*namespace, *public])

    return get, listing
