"""What a run found, gathered while it runs: check tallies, requests, test outcomes, measurements."""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from otp_mock_contracts.safety import Cleanup
from otp_mock_contracts.stateful import StatefulLog


@dataclass(frozen=True)
class Outcome:
    """One test item's result, with its failure text or skip reason (already masked)."""

    nodeid: str
    outcome: str  # passed, failed, skipped, error
    duration: float
    detail: str = ""  # the failure text, or the skip reason
    message: str = ""  # the failure's one-line message

    @property
    def name(self) -> str:
        return self.nodeid.rsplit("::", 1)[-1]


@dataclass
class Results:
    """Thread-safe accumulators the hooks and the plugin fill in."""

    checks: defaultdict[tuple[str, str], list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))
    statuses: defaultdict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    measurements: dict[str, Any] = field(default_factory=dict)
    cleanup: Cleanup | None = None
    stateful: StatefulLog | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def record_check(self, operation: str, check: str, passed: bool) -> None:
        with self._lock:
            self.checks[(operation, check)][0 if passed else 1] += 1

    def record_status(self, operation: str, status: int) -> None:
        with self._lock:
            self.statuses[operation][status] += 1

    def record_outcome(self, outcome: Outcome) -> None:
        """Keep the worst phase of an item: a failed teardown outranks a passed call."""
        rank = {"passed": 0, "skipped": 1, "failed": 2, "error": 3}
        with self._lock:
            known = self.outcomes.get(outcome.nodeid)
            if known is None or rank[outcome.outcome] >= rank[known.outcome]:
                self.outcomes[outcome.nodeid] = outcome

    def measure(self, name: str, value: Any) -> None:
        with self._lock:
            self.measurements[name] = value

    def count(self, outcome: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.outcome == outcome)

    @property
    def failed(self) -> bool:
        return any(o.outcome in ("failed", "error") for o in self.outcomes.values())
