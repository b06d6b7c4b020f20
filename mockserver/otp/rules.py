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


def verify_step(message: Message, given: str, now: float) -> tuple[Message, Outcome]:
    """Apply one verification attempt; returns the updated message and what happened.

    Order matters: a verified code is reported as such even after it expires; an expired
    code is reported as expired before the attempt count is looked at.
    """
    if message.verified:
        return message, Outcome.ALREADY_VERIFIED
    if message.expired(now):
        if message.lifecycle and message.lifecycle[-1].status == "verified_timeout":
            return message, Outcome.EXPIRED
        assert message.expires_at is not None
        timeout = Event("verified_timeout", message.expires_at)
        return replace(message, lifecycle=(*message.lifecycle, timeout)), Outcome.EXPIRED
    if message.exhausted:
        return message, Outcome.EXHAUSTED
    assert message.code is not None
    if same_code(message.code, given) and not message.never_verifies:
        event = Event("verified", now)
        return replace(message, verified_at=now, lifecycle=(*message.lifecycle, event)), Outcome.VERIFIED
    attempts = message.attempts + 1
    detail = f"wrong code, attempt {attempts} of {message.max_attempts}"
    event = Event("verified_failed", now, detail)
    return replace(message, attempts=attempts, lifecycle=(*message.lifecycle, event)), Outcome.WRONG
