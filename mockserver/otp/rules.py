"""The verification rule as a pure function, so every store can apply it atomically."""

from __future__ import annotations

import enum
from dataclasses import replace

from mockserver.otp.codes import same_code
from mockserver.otp.model import Event, Message


class Outcome(enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    ALREADY_VERIFIED = "already_verified"
    EXHAUSTED = "exhausted"
    UNDELIVERED = "undelivered"


def settle(message: Message, now: float, real: float) -> Message:
    """The message with the steps that time alone has brought by `now` (virtual): a delayed
    delivery, then the timeout of a code nobody verified. The same message when none is due,
    so a store writes (and streams) nothing for it."""
    steps: list[Event] = []
    changed = message
    if message.deliver_at is not None and now >= message.deliver_at:
        steps.append(Event("delivered", message.deliver_at, _fallback_detail(message), real))
        changed = replace(changed, deliver_at=None)
    due = changed.next_due()
    if due is not None and changed.deliver_at is None and changed.expired(now):
        steps.append(Event("verified_timeout", due, "", real))
    if not steps:
        return message
    return replace(changed, lifecycle=(*message.lifecycle, *steps))


def verify_step(message: Message, given: str, now: float, real: float = 0.0) -> tuple[Message, Outcome]:
    """Apply one verification attempt; returns the updated message and what happened.

    Order matters: a verified code is reported as such even after it expires; an expired
    code is reported as expired before the attempt count is looked at. A code verified before
    its delayed delivery was due evidently arrived: the delivery is recorded first.
    """
    if message.verified:
        return message, Outcome.ALREADY_VERIFIED
    if message.undelivered:
        return message, Outcome.UNDELIVERED
    settled = settle(message, now, real)
    if settled.expired(now):
        return settled, Outcome.EXPIRED
    if settled.exhausted:
        return settled, Outcome.EXHAUSTED
    if settled.deliver_at is not None:
        delivered = Event("delivered", now, _fallback_detail(settled), real)
        settled = replace(settled, deliver_at=None, lifecycle=(*settled.lifecycle, delivered))
    assert settled.code is not None
    if same_code(settled.code, given) and not settled.never_verifies:
        event = Event("verified", now, "", real)
        return replace(settled, verified_at=now, lifecycle=(*settled.lifecycle, event)), Outcome.VERIFIED
    attempts = settled.attempts + 1
    detail = f"wrong code, attempt {attempts} of {settled.max_attempts}"
    event = Event("verified_failed", now, detail, real)
    return replace(settled, attempts=attempts, lifecycle=(*settled.lifecycle, event)), Outcome.WRONG


def _fallback_detail(message: Message) -> str:
    """A delivery names its channel when it followed a failed one (as at send time)."""
    return message.channel if any(e.status == "delivered_failed" for e in message.lifecycle) else ""
