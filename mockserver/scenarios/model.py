"""Scenarios as loaded: immutable rules, replies and states."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Protocol

START = "start"


class Pattern(Protocol):
    """A compiled recipient pattern (RE2's, see loader.compile_pattern)."""

    def search(self, text: str) -> object | None: ...


@dataclass(frozen=True)
class Delay:
    """Seconds to wait before replying: fixed, uniform in [a, b], or normal(a, b) clipped at 0."""

    kind: str
    a: float
    b: float = 0.0

    def draw(self, rng: random.Random) -> float:
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b)
        if self.kind == "normal":
            return max(0.0, rng.gauss(self.a, self.b))
        return self.a


@dataclass(frozen=True)
class Reply:
    """What a rule answers: a documented error, an explicit reply, a fault, or the realistic one."""

    error: int | None = None
    message: str | None = None
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    fault: str | None = None
    passthrough: dict[str, Any] | None = None  # {} = realistic; may hold ttl_seconds, fail_channels
    delay: Delay | None = None

    @property
    def kind(self) -> str:
        if self.error is not None:
            return "error"
        if self.fault is not None:
            return "fault"
        if self.status is not None:
            return "explicit"
        return "pass"


@dataclass(frozen=True)
class Match:
    """Conditions of a rule beyond its operation; None means any."""

    to: str | None = None
    to_prefix: str | None = None
    to_pattern: Pattern | None = None
    template_id: str | None = None
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    dev_key: str | None = None
    calls: frozenset[int] | None = None
    call_from: int | None = None
    state: str | None = None


@dataclass(frozen=True)
class Rule:
    index: int
    where: str
    operations: frozenset[str] | None  # None = every operation
    match: Match
    replies: tuple[Reply, ...]
    sequence: bool = False
    then: str = "pass"
    probability: float | None = None
    delay: Delay | None = None
    goto: str | None = None


@dataclass(frozen=True)
class StateSpec:
    duration_seconds: float | None = None
    then: str | None = None


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    source: str
    rules: tuple[Rule, ...]
    initial_state: str = START
    states: dict[str, StateSpec] = field(default_factory=dict)
    version: str = ""  # a digest of the file: progress kept under another version starts over

    def summary(self) -> dict[str, Any]:
        faults = sorted({r.fault for rule in self.rules for r in rule.replies if r.fault})
        return {"name": self.name, "description": self.description, "source": self.source,
                "rules": len(self.rules), "states": sorted({self.initial_state, *self.states}),
                "faults": faults}
