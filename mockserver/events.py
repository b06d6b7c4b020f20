"""The event stream: what happened in the mock, in order, for every face to read.

Every store keeps one append-only stream (see `Store.append_events`). A record has a sequence
number given by the store (increasing across every worker and replica that shares it, never
reused), a type, the dev_key it belongs to, and when it happened on the real clock and on that
dev_key's virtual clock:

    request    one served request: method, path, headers (secrets masked), body, status, reply
               body, operation, duration, contract violations (the journal, `journal.py`)
    message    steps added to a message's lifecycle, with the message as it is after them; the
               store appends it in the same atomic write that changed the message
    template   a template reviewed through the control plane
    control    a change made through the control plane (clock, reset, scenario)

Readers follow a cursor (`after`); consumers that must act once across processes claim records
under a consumer name (`claim_events`), each getting a disjoint share, and acknowledge them.
Pure: no Flask, no store.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from mockserver.otp.model import Event, Message

TYPES = ("request", "message", "template", "control")


@dataclass(frozen=True)
class StreamEvent:
    """One record of the stream; `seq` is 0 until a store has appended it."""

    type: str
    tenant: str | None
    at: float  # real time
    virtual_at: float | None  # the tenant's virtual time (everyone's for records without a tenant)
    data: dict[str, Any] = field(default_factory=dict)
    seq: int = 0

    def with_seq(self, seq: int) -> StreamEvent:
        return StreamEvent(self.type, self.tenant, self.at, self.virtual_at, self.data, seq)


def encode(event: StreamEvent) -> str:
    """The record as JSON text, without its sequence number (the store keeps that beside it)."""
    return orjson.dumps([event.type, event.tenant, event.at, event.virtual_at, event.data]).decode()


def decode(seq: int, raw: str | bytes) -> StreamEvent:
    kind, tenant, at, virtual_at, data = orjson.loads(raw)
    return StreamEvent(kind, tenant, at, virtual_at, data, int(seq))


def step_view(step: Event) -> dict[str, Any]:
    out: dict[str, Any] = {"status": step.status, "at": step.at, "real_at": step.real_at}
    if step.detail:
        out["detail"] = step.detail
    if step.error_code:
        out["error_code"] = step.error_code
    return out


def message_event(before: Message | None, after: Message, real: float) -> StreamEvent | None:
    """The record of a message write: the steps it added (all of them for a new message), or
    None when the write added none to a message already known."""
    known = len(before.lifecycle) if before is not None else 0
    steps = after.lifecycle[known:]
    if before is not None and not steps:
        return None
    data = {
        "message_id": after.message_id,
        "operation": after.operation,
        "to": after.to,
        "template_id": after.template_id,
        "channel": after.channel,
        "code": after.code,
        "created_at": after.created_at,
        "expires_at": after.expires_at,
        "status": after.lifecycle[-1].status if after.lifecycle else "plan",
        "verified": after.verified,
        "attempts": after.attempts,
        "new": before is None,
        "steps": [step_view(s) for s in steps],
    }
    virtual = steps[-1].at if steps else after.created_at
    return StreamEvent("message", after.tenant, real, virtual, data)


def message_events(writes: list[tuple[Message | None, Message]], real: float) -> list[StreamEvent]:
    """The records of several message writes, in order."""
    found = (message_event(before, after, real) for before, after in writes)
    return [e for e in found if e is not None]
