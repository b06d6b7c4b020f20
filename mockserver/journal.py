"""A bounded record of served requests, for `/_mock/requests`. Never holds a secret.

The entries live where the store says (`Store.request_log`): in the process for the memory
store, in the shared store for SQLite and Redis, so every worker's requests show up whichever
worker answers the read. A shared log is written in batches by one thread per process (every
`flush_seconds`, or at once when `max_pending` entries wait), so a request never waits on the
store's write lock for its journal line; a read flushes its own process and then waits two
flush periods, so it sees what the other workers served before it was asked.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

from mockserver.batching import Batcher

log = logging.getLogger("mockserver")


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
        out = {name: getattr(self, name) for name in _ENTRY_FIELDS}  # asdict deep-copies: slow
        out["violations"] = list(self.violations)
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        return cls(**{**data, "violations": tuple(data.get("violations") or ())})


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))


class RequestLog(Protocol):
    """Where journal entries are kept; each back-end of the store has one."""

    shared: bool  # True when other processes write to it too

    def append(self, entries: Sequence[Entry]) -> None:
        """Keep the entries (their ids are given here, increasing), dropping the oldest over the size."""

    def recent(self, limit: int, dev_key: str | None = None) -> list[Entry]:
        """Newest first."""

    def clear(self) -> None: ...


class MemoryLog:
    """The last `size` entries of this process."""

    shared = False

    def __init__(self, size: int) -> None:
        self._entries: deque[tuple[int, Entry]] = deque(maxlen=size)  # ids given on reading: reads are rare
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def append(self, entries: Sequence[Entry]) -> None:
        with self._lock:
            self._entries.extend((next(self._ids), e) for e in entries)

    def recent(self, limit: int, dev_key: str | None = None) -> list[Entry]:
        with self._lock:
            entries = list(self._entries)
        entries.reverse()
        if dev_key is not None:
            entries = [(n, e) for n, e in entries if e.dev_key == dev_key]
        return [replace(e, id=n) for n, e in entries[:limit]]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


class Journal:
    """The front the pipeline writes to; batches entries for a shared log."""

    def __init__(self, sink: RequestLog, body_limit: int = 2048, flush_seconds: float = 0.02,
                 max_pending: int = 1000) -> None:
        self.sink = sink
        self.body_limit = body_limit
        self.flush_seconds = flush_seconds
        self._pending: Batcher[Entry] = Batcher(self._append, flush_seconds, max_pending)

    def record(self, **fields: Any) -> Entry:
        body = fields.get("body")
        if isinstance(body, str) and len(body) > self.body_limit:
            fields["body"] = body[: self.body_limit] + f"... ({len(body)} characters)"
        entry = Entry(id=0, **fields)
        if self.sink.shared:
            self._pending.add(entry)
        else:
            self.sink.append([entry])
        return entry

    def recent(self, limit: int = 100, dev_key: str | None = None) -> list[Entry]:
        if self.sink.shared:
            self.flush()
            time.sleep(2 * self.flush_seconds)  # other workers flush what they served before now
        return self.sink.recent(limit, dev_key)

    def clear(self) -> None:
        self._pending.clear()
        self.sink.clear()

    def flush(self) -> None:
        self._pending.flush()

    def _append(self, batch: list[Entry]) -> None:
        try:
            self.sink.append(batch)
        except Exception:  # noqa: BLE001 - the journal is best effort; serving goes on
            log.exception("could not write %d journal entries to the store", len(batch))
