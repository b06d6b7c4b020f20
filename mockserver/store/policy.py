"""What every store keeps and for how long: one set of limits, the same on every back-end.

A store applies them in `housekeeping()`, which the mock calls at most once every
`housekeeping_seconds` per process (on the request that finds it due, and after a clock move):
expired messages go after their retention, then the oldest messages over `max_messages`, the
least recently active dev_keys over `max_tenants` (all their state), scenario progress over
`max_progress`, and stream records over `max_events`. A store may also act at once where it is
cheap (the memory store drops the oldest message the moment the cap is passed).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mockserver.threads import ProcessThread

PURGE_BATCH = 10_000  # messages one housekeeping run drops at most: a mass expiry drains over runs


@dataclass(frozen=True)
class StorePolicy:
    retention_seconds: float = 3600.0
    max_messages: int = 100_000
    max_tenants: int = 10_000
    max_progress: int = 10_000
    max_events: int = 10_000
    housekeeping_seconds: float = 1.0
    max_key_bytes: int = 32 * 1024 * 1024  # what one dev_key's stored messages may hold (Message.size)
    max_deliveries: int = 10_000  # callback deliveries kept (the log)

    def __post_init__(self) -> None:
        for name in ("max_messages", "max_tenants", "max_progress", "max_events", "max_key_bytes", "max_deliveries"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise ValueError(f"{name}: expected a whole number >= 1, got {getattr(self, name)!r}")
        for name in ("retention_seconds", "housekeeping_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{name}: expected a finite number of seconds >= 0, got {value!r}")

    @classmethod
    def from_settings(cls, settings: Any) -> StorePolicy:
        return cls(settings.retention_seconds, settings.max_messages, settings.max_tenants,
                   settings.max_progress, settings.max_events, settings.housekeeping_seconds,
                   settings.max_key_bytes, settings.max_deliveries)

    @classmethod
    def of(cls, policy: StorePolicy | None, limits: dict[str, Any]) -> StorePolicy:
        """`policy` (or the defaults) with some limits changed: `MemoryStore(max_messages=50)`."""
        return dataclasses.replace(policy or cls(), **limits)


class Cadence:
    """Says yes at most once every `seconds` (per process, thread-safe)."""

    def __init__(self, seconds: float, clock: Any = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._next = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        now = self._clock()
        if now < self._next:  # the common case, without the lock
            return False
        with self._lock:
            if now < self._next:
                return False
            self._next = now + self.seconds
            return True


class Housekeeper:
    """Runs `tick` every `seconds` in a daemon thread of each process that calls `ensure()`
    (mockserver.threads); `stop()` ends it."""

    def __init__(self, tick: Callable[[], None], seconds: float) -> None:
        self._tick = tick
        self.seconds = max(seconds, 0.05)
        self._thread = ProcessThread("housekeeping", self._run)

    def ensure(self) -> None:
        self._thread.ensure()

    def stop(self, wait: float = 2.0) -> None:
        self._thread.stop(wait)

    def _run(self, stopped: threading.Event) -> None:
        while not stopped.wait(self.seconds):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - housekeeping goes on; the mock logs what failed
                logging.getLogger("mockserver").exception("housekeeping failed")
