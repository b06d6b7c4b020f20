"""What judging gives: requirements with a result, a reason and findings that cite records."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

PASSED, FAILED, WARNING, SKIPPED = "PASSED", "FAILED", "WARNING", "SKIPPED"
RESULTS = (PASSED, FAILED, WARNING, SKIPPED)
MAX_FINDINGS = 50  # findings one requirement lists (the count says how many there were)


@dataclass(frozen=True)
class Finding:
    """One observation behind a result: what was seen, and the records that show it."""

    text: str
    records: tuple[int, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "records": list(self.records)}


@dataclass(frozen=True)
class Verdict:
    """What a judge says about one requirement, before the profile's declarations apply."""

    result: str
    reason: str
    findings: tuple[Finding, ...] = ()
    total: int | None = None  # findings there were, when more than MAX_FINDINGS

    @classmethod
    def of(cls, result: str, reason: str, findings: list[Finding]) -> Verdict:
        return cls(result, reason, tuple(findings[:MAX_FINDINGS]), len(findings) if len(findings) > MAX_FINDINGS
                   else None)


@dataclass(frozen=True)
class Requirement:
    id: str
    group: str  # conformance, coverage, behaviour, session
    title: str
    section: str
    source: str
    verdict: Verdict
    handled_by: tuple[str, ...] = ()
    trigger: str | None = None
    declared: str | None = None  # "skip" or "expected failure", with the profile's reason
    judged: str | None = None  # the judge's own result, when a declaration changed it
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def result(self) -> str:
        return self.verdict.result

    def with_verdict(self, verdict: Verdict, declared: str) -> Requirement:
        return replace(self, verdict=verdict, declared=declared, judged=self.verdict.result)

    def records(self) -> list[int]:
        return sorted({r for f in self.verdict.findings for r in f.records})

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id, "group": self.group, "title": self.title, "section": self.section,
            "source": self.source, "result": self.result, "reason": self.verdict.reason,
            "findings": [f.as_json() for f in self.verdict.findings],
            "findings_total": self.verdict.total if self.verdict.total is not None else len(self.verdict.findings),
            "records": self.records(),
        }
        if self.trigger is not None:
            out["trigger"] = self.trigger
        if self.handled_by:
            out["handled_by"] = [f"behaviour.{name}" for name in self.handled_by]
        if self.declared is not None:
            out["declared"] = self.declared
            out["judged"] = self.judged
        return out


def overall(requirements: list[Requirement]) -> str:
    """PASSED only when every requirement passed; FAILED otherwise (a warning or a skip is not
    a pass: the summary says which)."""
    return PASSED if requirements and all(r.result == PASSED for r in requirements) else FAILED


def counts(requirements: list[Requirement]) -> dict[str, int]:
    return {name: sum(1 for r in requirements if r.result == name) for name in RESULTS}
