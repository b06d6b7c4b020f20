"""A bounded record of served requests, for `/_mock/requests`. Never holds a secret."""

from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Entry:
    id: int
    at: float
    method: str
    path: str
    operation: str | None
    dev_key: str | None
    status: int
    code: int | None
    duration_ms: float
    body: str | None = None
    violations: tuple[str, ...] = field(default_factory=tuple)
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["violations"] = list(self.violations)
        return out


class Journal:
    """The last `size` requests, newest first when read."""

    def __init__(self, size: int = 500, body_limit: int = 2048) -> None:
        self._entries: deque[Entry] = deque(maxlen=size)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.body_limit = body_limit

    def record(self, **fields: Any) -> Entry:
        body = fields.get("body")
        if isinstance(body, str) and len(body) > self.body_limit:
            fields["body"] = body[: self.body_limit] + f"... ({len(body)} characters)"
        with self._lock:
            entry = Entry(id=next(self._ids), **fields)
            self._entries.append(entry)
        return entry

    def recent(self, limit: int = 100, dev_key: str | None = None) -> list[Entry]:
        with self._lock:
            entries = list(self._entries)
        entries.reverse()
        if dev_key is not None:
            entries = [e for e in entries if e.dev_key == dev_key]
        return entries[:limit]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
