"""Judging a session: every requirement of the profile gets PASSED, FAILED, WARNING or SKIPPED
with a reason and the records that show it.

    conformance.*  every request valid against the contract (conformance.py)
    coverage.*     each case of the profile exercised by at least one request
    behaviour.*    the rules of behaviour.py
    session.*      the session itself: the command ended by itself; no record was lost

Then the profile's declarations apply: a declared skip is SKIPPED whatever was judged; a
declared expected failure that failed is a WARNING (it stays listed), one that passed says the
declaration can go.
"""

from __future__ import annotations

from typing import Any

from mockserver.certify import behaviour, conformance
from mockserver.certify.profile import Case, Matcher, Profile
from mockserver.certify.records import MISSING, Record, dig
from mockserver.certify.results import FAILED, PASSED, SKIPPED, WARNING, Finding, Requirement, Verdict
from mockserver.certify.session import SessionOutcome
from mockserver.contract import Contract

KIT_SECTION = "OTP Mock Kit: the certification session"
KIT_SOURCE = "README.md, Certifying your integration"
MAX_SHOWN = 5  # requests listed as the evidence that a case was exercised


def judge_session(profile: Profile, records: list[Record], contract: Contract,
                  outcome: SessionOutcome) -> list[Requirement]:
    found = [Requirement(c.id, "conformance", c.title, c.section, c.source,
                         conformance.judge(c.id.removeprefix("conformance."), records, contract))
             for c in profile.conformance]
    found += [_coverage(case, records) for case in profile.cases]
    found += [Requirement(c.id, "behaviour", c.title, c.section, c.source,
                          behaviour.judge(c, records, contract, profile)) for c in profile.behaviour.values()]
    found += _session(records, outcome)
    return [_declared(r, profile) for r in found]


def _coverage(case: Case, records: list[Record]) -> Requirement:
    hits = [r for r in records if any(matches(m, r) for m in case.seen)]
    if hits:
        shown = [Finding(f"{r.operation or r.path} answered {_answer(r)}", (r.id,)) for r in hits[:MAX_SHOWN]]
        verdict = Verdict(PASSED, f"exercised by {len(hits)} request(s)", tuple(shown))
    else:
        verdict = Verdict(FAILED, f"not exercised. {case.trigger}")
    return Requirement(f"coverage.{case.id}", "coverage", case.title, case.section, case.source, verdict,
                       case.handled_by, case.trigger)


def _answer(record: Record) -> str:
    if record.fault is not None:
        return f"with the {record.fault} fault"
    if record.code is not None:
        return f"{record.status} with code {record.code}"
    return str(record.status)


def matches(matcher: Matcher, record: Record) -> bool:
    """Whether a request shows a case: every field of the matcher holds."""
    if matcher.fault is not None:
        if record.fault != matcher.fault:
            return False
    elif record.fault is not None:  # a fault's status and body are no answer the client saw
        return False
    checks = (
        matcher.operations is None or record.operation in matcher.operations,
        matcher.status is None or record.status == matcher.status,
        matcher.code is None or record.code == matcher.code,
        matcher.message is None or matcher.message in _message(record),
        matcher.to is None or matcher.to in record.recipients(),
        matcher.to_pattern is None or any(matcher.to_pattern.search(r) for r in record.recipients()),
    )
    if not all(checks):
        return False
    reply, body = (record.reply_json() if matcher.reply else None), (record.body_json() if matcher.body else None)
    return (all(_same(dig(reply, k), v) for k, v in matcher.reply)
            and all(_same(dig(body, k), v) for k, v in matcher.body))


def _same(found: Any, wanted: Any) -> bool:
    """JSON equality: true is not 1, "1" is not 1."""
    if found is MISSING:
        return False
    if isinstance(found, bool) or isinstance(wanted, bool):
        return isinstance(found, bool) and isinstance(wanted, bool) and found == wanted
    if isinstance(found, (int, float)) and isinstance(wanted, (int, float)):
        return bool(found == wanted)
    return type(found) is type(wanted) and bool(found == wanted)


def _message(record: Record) -> str:
    reply = record.reply_json()
    message = reply.get("message") if isinstance(reply, dict) else None
    return message.lower() if isinstance(message, str) else ""


def _session(records: list[Record], outcome: SessionOutcome) -> list[Requirement]:
    run = Requirement("session.run", "session", "The session ended as it should", KIT_SECTION, KIT_SOURCE,
                      _run_verdict(outcome))
    evidence = Requirement("session.evidence", "session", "Every request of the session is in the evidence",
                           KIT_SECTION, KIT_SOURCE, _evidence_verdict(records, outcome))
    return [run, evidence]


def _run_verdict(outcome: SessionOutcome) -> Verdict:
    took = f"after {outcome.ended - outcome.started:.1f} s"
    if outcome.mode == "serve":
        return Verdict(PASSED, f"served until {outcome.ended_by} {took}")
    if outcome.ended_by == "timeout":
        return Verdict(FAILED, f"the command did not end within {outcome.timeout:g} s (--timeout): it was stopped")
    if outcome.ended_by == "interrupt":
        return Verdict(FAILED, f"the session was interrupted {took}, before the command ended")
    if outcome.exit_status:
        return Verdict(WARNING, f"the command exited with status {outcome.exit_status} {took}: its own tests "
                                "failed (the requirements above are judged all the same)")
    return Verdict(PASSED, f"the command exited with status 0 {took}")


def _evidence_verdict(records: list[Record], outcome: SessionOutcome) -> Verdict:
    if outcome.lost:
        return Verdict(FAILED, f"the event stream let {outcome.lost} record(s) of the session go before they "
                               "were read (max_events): what they showed is not judged; make fewer requests")
    if outcome.served > len(records):
        return Verdict(FAILED, f"the session's server answered {outcome.served} API request(s) but the journal "
                               f"holds {len(records)}: the store lost some")
    return Verdict(PASSED, f"all {len(records)} request(s) of the session are in evidence/requests.jsonl")


def _declared(requirement: Requirement, profile: Profile) -> Requirement:
    skip = profile.skips.get(requirement.id)
    if skip is not None:
        verdict = Verdict(SKIPPED, f"declared skip ({skip.where}): {skip.reason}", requirement.verdict.findings)
        return requirement.with_verdict(verdict, "skip")
    failure = profile.failures.get(requirement.id)
    if failure is None:
        return requirement
    judged = requirement.verdict
    if judged.result == FAILED:
        verdict = Verdict(WARNING, f"failed as the profile expects ({failure.where}: {failure.reason}): "
                                   f"{judged.reason}", judged.findings, judged.total)
    elif judged.result == PASSED:
        verdict = Verdict(PASSED, f"{judged.reason}; the profile expects a failure ({failure.where}) that did not "
                                  "happen: the declaration can go", judged.findings, judged.total)
    else:
        verdict = judged
    return requirement.with_verdict(verdict, "expected failure")
