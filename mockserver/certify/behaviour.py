"""Behaviour: how the client copes with what the API answers, judged from the session's records.

    no-retry         a non-retryable error (the catalogue's `retryable: false`, plus the
                     profile's `also`) is not followed by the same request within the window
    retry-backoff    after a retryable failure (a retryable code, a transport fault, a client
                     timeout) the same request comes back at most `max_retries` times, each
                     after at least `min_wait_seconds`; waits that shrink are a warning
    verify-attempts  at most `max_per_message` verify requests for one message_id
    send-flood       at most `max_sends` sends to one recipient in any `window_seconds`
    client-timeout   on a reply that never comes (the hang fault) the client leaves within
                     `max_seconds`, rather than waiting until the mock gives up

"The same request" is the same method, path and JSON body. Credentials are masked in the
journal, so a request repeated after a 2001, 2002 or 2004 counts as a retry only when it is
refused the same way (new credentials would have changed the answer).
"""

from __future__ import annotations

from collections.abc import Callable

from mockserver.certify.profile import Check, Profile
from mockserver.certify.records import Record
from mockserver.certify.results import FAILED, PASSED, SKIPPED, WARNING, Finding, Verdict
from mockserver.contract import Contract

SENDS = frozenset({"send_otp", "send_custom_code", "send_custom_message"})
AUTH = frozenset({2001, 2002, 2004})
SHRINK = 0.5  # a wait below half the one before it is a backoff going the wrong way
Rule = Callable[[Check, list[Record], Contract, Profile], Verdict]


def judge(check: Check, records: list[Record], contract: Contract, profile: Profile) -> Verdict:
    return _RULES[check.id.removeprefix("behaviour.")](check, records, contract, profile)


def also_codes(profile: Profile) -> frozenset[int]:
    """Codes the profile adds to the non-retryable ones (and so takes from the retryable ones)."""
    rule = profile.behaviour.get("no-retry")
    return frozenset(rule.limits.get("also") or ()) if rule is not None else frozenset()


def _what(record: Record) -> str:
    return record.operation or f"{record.method} {record.path}"


def _no_retry(check: Check, records: list[Record], contract: Contract, profile: Profile) -> Verdict:
    window = float(check.limits["window_seconds"])
    refused = {c for c, info in contract.errors.items() if not info.retryable} | also_codes(profile)
    findings, served, ok = [], 0, []
    for index, record in enumerate(records):
        if record.fault is not None or record.code not in refused:
            continue
        served += 1
        again = _repeat(record, records[index + 1:], window)
        if again is None:
            ok.append(Finding(f"{_what(record)} got {record.code}: not sent again within {window:g} s", (record.id,)))
        else:
            gap = again.started - record.ended
            findings.append(Finding(f"{_what(record)} got {record.code} ({contract.errors[record.code].name}), "
                                    f"a non-retryable error, and was sent again {max(gap, 0):.3f} s later",
                                    (record.id, again.id)))
    if not served:
        return Verdict(SKIPPED, "no non-retryable error was served: nothing to judge")
    if findings:
        return Verdict.of(FAILED, f"{len(findings)} of {served} non-retryable error(s) retried within {window:g} s",
                          findings)
    return Verdict.of(PASSED, f"none of {served} non-retryable error(s) was retried within {window:g} s", ok)


def _repeat(record: Record, later: list[Record], window: float) -> Record | None:
    identity = record.identity()
    for other in later:
        if other.started - record.ended > window:
            return None
        if other.identity() == identity and (record.code not in AUTH or other.code == record.code):
            return other
    return None


def _failure(record: Record, retryable: frozenset[int]) -> bool:
    gone = record.seen is not None and record.seen.client_gone
    return record.fault is not None or record.code in retryable or gone


def _retry_backoff(check: Check, records: list[Record], contract: Contract, profile: Profile) -> Verdict:
    limits = check.limits
    retryable = frozenset(c for c, info in contract.errors.items() if info.retryable) - also_codes(profile)
    chains = _chains(records, retryable, float(limits["chain_seconds"]))
    failures = sum(1 for r in records if _failure(r, retryable))
    if not failures:
        return Verdict(SKIPPED, "no retryable failure was served: nothing to judge")
    findings, warnings, ok = [], [], []
    for chain in chains:
        problem, shrinking = _chain_problem(chain, int(limits["max_retries"]), float(limits["min_wait_seconds"]))
        ids = tuple(r.id for r in chain)
        waits = ", ".join(f"{w:.3f}" for w in _waits(chain))
        if problem:
            findings.append(Finding(f"{_what(chain[0])} {problem} (waits: {waits} s)", ids))
        elif shrinking:
            warnings.append(Finding(f"{_what(chain[0])} retried {len(chain) - 1} time(s) with waits that shrink "
                                    f"({waits} s): back off more each time", ids))
        else:
            ok.append(Finding(f"{_what(chain[0])} retried {len(chain) - 1} time(s), waits {waits} s", ids))
    retried = len(chains)
    if findings:
        rule = f"at most {limits['max_retries']} retries, each after {limits['min_wait_seconds']} s or more"
        return Verdict.of(FAILED, f"{len(findings)} of {retried} retried request(s) broke the backoff rule "
                                  f"({rule})", findings + warnings)
    if warnings:
        return Verdict.of(WARNING, f"{len(warnings)} of {retried} retried request(s) waited less each time", warnings)
    return Verdict.of(PASSED, f"{failures} retryable failure(s); {retried} retried, each with backoff", ok)


def _chains(records: list[Record], retryable: frozenset[int], chain_seconds: float) -> list[list[Record]]:
    """Runs of the same request, each after a retryable failure of the one before."""
    open_: dict[tuple[str, str, str], list[Record]] = {}
    done: list[list[Record]] = []
    for record in records:
        identity = record.identity()
        chain = open_.get(identity)
        if chain and _failure(chain[-1], retryable) and record.started - chain[-1].ended <= chain_seconds:
            chain.append(record)
            continue
        if chain and len(chain) > 1:
            done.append(chain)
        open_[identity] = [record]
    done.extend(c for c in open_.values() if len(c) > 1)
    return sorted(done, key=lambda c: c[0].id)


def _waits(chain: list[Record]) -> list[float]:
    return [max(0.0, chain[i].started - chain[i - 1].ended) for i in range(1, len(chain))]


def _chain_problem(chain: list[Record], most: int, least: float) -> tuple[str | None, bool]:
    waits = _waits(chain)
    problems = []
    if len(waits) > most:
        problems.append(f"retried {len(waits)} times (at most {most})")
    short = [w for w in waits if w < least]
    if short:
        problems.append(f"retried {len(short)} time(s) after less than {least:g} s")
    shrinking = any(waits[i] < waits[i - 1] * SHRINK for i in range(1, len(waits)))
    return ("; ".join(problems) or None), shrinking


def _verify_attempts(check: Check, records: list[Record], contract: Contract, profile: Profile) -> Verdict:
    most = int(check.limits["max_per_message"])
    by_message: dict[str, list[Record]] = {}
    for record in records:
        message_id = record.field("message_id") if record.operation == "verify_otp" else None
        if isinstance(message_id, str):
            by_message.setdefault(message_id, []).append(record)
    if not by_message:
        return Verdict(SKIPPED, "no verify request: nothing to judge")
    findings = [Finding(f"{len(found)} verify attempts on message {message_id} (at most {most})",
                        tuple(r.id for r in found)) for message_id, found in by_message.items() if len(found) > most]
    if findings:
        return Verdict.of(FAILED, f"{len(findings)} message(s) got more than {most} verify attempts", findings)
    busiest = max(len(found) for found in by_message.values())
    return Verdict(PASSED, f"{len(by_message)} message(s) verified, at most {busiest} attempt(s) each (limit {most})")


def _send_flood(check: Check, records: list[Record], contract: Contract, profile: Profile) -> Verdict:
    most, window = int(check.limits["max_sends"]), float(check.limits["window_seconds"])
    by_recipient: dict[str, list[Record]] = {}
    for record in records:
        if record.operation in SENDS:
            for recipient in record.recipients():
                by_recipient.setdefault(recipient, []).append(record)
    if not by_recipient:
        return Verdict(SKIPPED, "no send request: nothing to judge")
    findings = []
    for recipient, sends in by_recipient.items():
        worst = _densest(sends, window)
        if len(worst) > most:
            findings.append(Finding(f"{len(worst)} sends to {recipient} within {window:g} s (at most {most})",
                                    tuple(r.id for r in worst)))
    if findings:
        return Verdict.of(FAILED, f"{len(findings)} recipient(s) flooded", findings)
    return Verdict(PASSED, f"sends to {len(by_recipient)} recipient(s), none more than {most} in {window:g} s")


def _densest(sends: list[Record], window: float) -> list[Record]:
    """The most sends that fit in one window (two pointers over sends in time order)."""
    best: list[Record] = []
    start = 0
    for end in range(len(sends)):
        while sends[end].started - sends[start].started > window:
            start += 1
        if end - start + 1 > len(best):
            best = sends[start:end + 1]
    return best


def _client_timeout(check: Check, records: list[Record], contract: Contract, profile: Profile) -> Verdict:
    most = float(check.limits["max_seconds"])
    slow = [r for r in records if r.fault == "hang"]
    if not slow:
        return Verdict(SKIPPED, "no slow reply was served: nothing to judge")
    findings, unknown, ok = [], [], []
    for record in slow:
        seen = record.seen
        if seen is None:
            unknown.append(Finding(f"{_what(record)}: not served by the session's server; how long the client "
                                   "waited is unknown", (record.id,)))
        elif not seen.client_gone:
            findings.append(Finding(f"{_what(record)}: the client waited {seen.elapsed:.1f} s, until the mock "
                                    "closed the connection: it has no timeout", (record.id,)))
        elif seen.elapsed > most:
            findings.append(Finding(f"{_what(record)}: the client gave up after {seen.elapsed:.1f} s "
                                    f"(at most {most:g} s)", (record.id,)))
        else:
            ok.append(Finding(f"{_what(record)}: the client gave up after {seen.elapsed:.1f} s", (record.id,)))
    if findings:
        return Verdict.of(FAILED, f"{len(findings)} of {len(slow)} slow reply(ies) waited on too long", findings)
    if unknown:
        return Verdict.of(WARNING, "how long the client waited is unknown", unknown)
    return Verdict.of(PASSED, f"the client gave up on all {len(slow)} slow reply(ies) within {most:g} s", ok)


_RULES: dict[str, Rule] = {
    "no-retry": _no_retry, "retry-backoff": _retry_backoff, "verify-attempts": _verify_attempts,
    "send-flood": _send_flood, "client-timeout": _client_timeout,
}

