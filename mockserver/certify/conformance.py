"""Conformance: every request of the session is valid against the contract, judged again from
its journal record (not from the mock's answer, which a scenario may have chosen):

    route         the method and path are an operation of the API (no 404, no 405)
    auth          an Authorization header with the Basic scheme and well-formed credentials
    content-type  application/json on every operation that takes a body
    body          JSON, valid against the operation's schema (3001 and 3002 are the violations;
                  a business code a schema names, such as 3003, is an answer, not a violation)

A wrong secret is well-formed Basic auth: the 2001 it gets is a case to cover, not a violation.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from mockserver.bodies import is_json_type
from mockserver.certify.records import MISSING, Record
from mockserver.certify.results import FAILED, PASSED, SKIPPED, Finding, Verdict
from mockserver.contract import Contract, Operation
from mockserver.errors import ApiError

# The mock's 2001 messages for credentials that are not `Basic base64(key:secret)` (auth.py).
_MALFORMED = ("missing authorization", "basic scheme", "not valid base64", "expected 'dev_key:dev_secret'",
              "the dev_key ")
_MOCK_HEADERS = ("prefer", "x-mock-scenario", "x-mock-error")  # headers that ask the mock for an answer
Problem = Callable[[Record, Operation | None], str | None]


def judge(aspect: str, records: list[Record], contract: Contract) -> Verdict:
    """The verdict of one aspect over every request of the session."""
    if not records:
        return Verdict(SKIPPED, "no request was made: nothing to judge")
    check = _ASPECTS[aspect]
    findings = []
    for record in records:
        op = contract.by_id.get(record.operation or "")
        problem = check(record, op)
        if problem is not None:
            findings.append(Finding(f"{record.method} {record.path}: {problem}", (record.id,)))
    if findings:
        return Verdict.of(FAILED, f"{len(findings)} of {len(records)} request(s) break the contract", findings)
    return Verdict(PASSED, f"all {len(records)} request(s) conform")


def _route(record: Record, op: Operation | None) -> str | None:
    if op is not None:
        return None
    if record.status == 405:
        return "this method is not allowed on this path (the mock answered 405)"
    return "no operation of the API has this path (the mock answered 404)"


def _auth(record: Record, op: Operation | None) -> str | None:
    header = record.headers.get("authorization")
    if not header:
        return "no Authorization header; send 'Authorization: Basic base64(dev_key:dev_secret)'"
    if header.split(" ", 1)[0].lower() != "basic":
        return "the Authorization header does not use the Basic scheme"
    if record.code == 2001 and any(m in _message(record) for m in _MALFORMED):
        return f"malformed Basic credentials (the mock said: {_message(record)})"
    return None


def _content_type(record: Record, op: Operation | None) -> str | None:
    if op is None or not op.has_body:
        return None
    given = record.headers.get("content-type")
    if given is None:
        return "no Content-Type header; send 'Content-Type: application/json'"
    if not is_json_type(given) or given.split(";", 1)[0].strip().lower() != "application/json":
        return f"Content-Type {given[:80]!r}; send 'application/json'"
    return None


def _body(record: Record, op: Operation | None) -> str | None:
    if op is None:
        return None
    if not op.has_body:
        return None
    # what the mock refused and the journal's text cannot show again (bad UTF-8, too deep, too
    # long to keep), unless a wrong Content-Type explains it (that aspect lists it) or a header
    # asked the mock for the error
    mock_refused = (record.code in (3001, 3002) and _content_type(record, op) is None
                    and not any(h in record.headers for h in _MOCK_HEADERS))
    if record.body is None:
        return "no body; this operation takes a JSON object"
    if record.truncated:  # longer than the journal keeps: the mock's own check is all there is
        return f"the mock refused the body ({record.code}: {_message(record)})" if mock_refused else None
    value = record.body_json()
    if value is MISSING:
        return "the body is not valid JSON"
    try:
        op.check_params(_path_params(op, record.path))
        op.check_body(value)
    except ApiError as error:
        if error.code in (3001, 3002):
            return f"{error.code}: {error.message}"
    if mock_refused and record.code == 3001:
        return f"the mock refused the body (3001: {_message(record)})"
    return None


def _message(record: Record) -> str:
    reply = record.reply_json()
    message = reply.get("message") if isinstance(reply, dict) else None
    return message.lower() if isinstance(message, str) else ""


def _path_params(op: Operation, path: str) -> dict[str, str]:
    pattern = "^" + re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(op.path)) + "$"
    found = re.match(pattern, path)
    return found.groupdict() if found else {}


_ASPECTS: dict[str, Problem] = {"route": _route, "auth": _auth, "content-type": _content_type, "body": _body}
