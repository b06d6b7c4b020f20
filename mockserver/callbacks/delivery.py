"""A delivery: one envelope of rows for one dev_key's callback URL, and its attempts. Pure.

Deliveries live in the store (every worker and replica sees one log), and change only through
the pure steps below, applied atomically by `Store.update_delivery`:

    pending --attempt ok--> success
    pending --attempt failed, retries left--> pending (next attempt after the schedule's delay)
    pending --attempt failed, none left--> failed (kept: recover sends it again)

A process takes a delivery for an attempt with a lease (`claim`): nobody else attempts it until
the lease runs out, which it does only if that process died mid-attempt (then it is attempted
again: an HTTP delivery is at-least-once). A manual attempt (resend, recover) is recorded as such.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import orjson

PENDING, SUCCESS, FAILED = "pending", "success", "failed"
STATUSES = (PENDING, SUCCESS, FAILED)
SCHEDULED, MANUAL = "scheduled", "manual"
MAX_ATTEMPTS_KEPT = 20  # the newest attempts a delivery keeps (manual resends could add any number)


@dataclass(frozen=True)
class Attempt:
    """One POST: when (real time), where, the headers sent (credentials masked, the signature
    shown), the answer (status and the start of the body), how long it took, what went wrong."""

    at: float
    url: str
    headers: dict[str, str]
    status: int | None
    response: str | None
    duration_ms: float
    error: str | None
    trigger: str
    ok: bool

    def as_list(self) -> list[Any]:
        return [self.at, self.url, self.headers, self.status, self.response, self.duration_ms, self.error,
                self.trigger, self.ok]


@dataclass(frozen=True)
class Delivery:
    id: str
    tenant: str | None  # whose events the rows are
    scope: str  # whose configuration delivers it: the dev_key, or "" for everyone's
    kind: str
    body: str  # the envelope, as sent
    events: tuple[str, ...]
    message_ids: tuple[str, ...]
    created_at: float
    origin: str = "event"  # or "trigger"
    status: str = PENDING
    next_at: float | None = None  # real time of the next scheduled attempt
    lease: str = ""  # the token of the process attempting it now
    lease_until: float = 0.0
    scheduled: int = 0  # scheduled attempts made
    manual_next: bool = False  # recovered: the next attempt is a manual one, and the last
    attempt_count: int = 0
    attempts: tuple[Attempt, ...] = ()

    @property
    def due(self) -> float | None:
        """When the store should hand it out for an attempt (None: finished)."""
        if self.status != PENDING:
            return None
        return max(self.next_at if self.next_at is not None else self.created_at, self.lease_until)


def claim(delivery: Delivery, now: float, token: str, lease_seconds: float,
          manual: bool = False) -> tuple[Delivery, bool]:
    """Take a delivery for one attempt: a due pending one, or (manual) any one not being
    attempted now. The same delivery and False when it cannot be taken."""
    if delivery.lease_until > now:
        return delivery, False
    if not manual and (delivery.due is None or delivery.due > now):
        return delivery, False
    return replace(delivery, lease=token, lease_until=now + lease_seconds), True


def renew(delivery: Delivery, token: str, now: float, lease_seconds: float) -> tuple[Delivery, bool]:
    """Extend the lease `token` holds, just before an attempt; False when it is not held any more
    (it ran out and someone else claimed it, or the delivery finished): do not attempt it."""
    if delivery.lease != token or delivery.status != PENDING or delivery.lease_until <= now:
        return delivery, False
    return replace(delivery, lease_until=max(delivery.lease_until, now + lease_seconds)), True


def finish(delivery: Delivery, token: str, attempt: Attempt, schedule: tuple[float, ...],
           now: float) -> tuple[Delivery, bool]:
    """Record an attempt made under the lease `token` (False when the lease was lost: the
    attempt is not recorded, someone else owns the delivery now)."""
    if delivery.lease != token:
        return delivery, False
    kept = (*delivery.attempts, attempt)[-MAX_ATTEMPTS_KEPT:]
    changed = replace(delivery, lease="", lease_until=0.0, attempts=kept, attempt_count=delivery.attempt_count + 1)
    if attempt.ok:
        return replace(changed, status=SUCCESS, next_at=None, manual_next=False), True
    if attempt.trigger == MANUAL:
        if delivery.manual_next:  # a recovered delivery gets one more try, not a new schedule
            return replace(changed, status=FAILED, next_at=None, manual_next=False), True
        return changed, True  # a resend that failed leaves the delivery as it was
    made = delivery.scheduled + 1
    if made <= len(schedule):
        return replace(changed, scheduled=made, next_at=now + schedule[made - 1]), True
    return replace(changed, scheduled=made, status=FAILED, next_at=None), True


def recovered(delivery: Delivery, now: float) -> tuple[Delivery, bool]:
    """A failed delivery, due again now for one manual attempt."""
    if delivery.status != FAILED:
        return delivery, False
    return replace(delivery, status=PENDING, next_at=now, manual_next=True), True


def hastened(delivery: Delivery, now: float, tenant: str | None) -> tuple[Delivery, bool]:
    """A pending delivery waiting for a retry, due now (the virtual clock jumped: what a test
    skips ahead to should not wait for the real clock). `tenant` None: every dev_key's."""
    if delivery.status != PENDING or delivery.next_at is None or delivery.next_at <= now \
            or tenant not in (None, delivery.tenant):
        return delivery, False
    return replace(delivery, next_at=now), True


def to_json(delivery: Delivery) -> str:
    data = {name: getattr(delivery, name) for name in _FIELDS}
    data["attempts"] = [a.as_list() for a in delivery.attempts]
    return orjson.dumps(data).decode()


def from_json(raw: str | bytes) -> Delivery:
    data = orjson.loads(raw)
    data["events"] = tuple(data["events"])
    data["message_ids"] = tuple(data["message_ids"])
    data["attempts"] = tuple(Attempt(*a) for a in data.get("attempts", ()))
    return Delivery(**data)


_FIELDS = tuple(name for name in Delivery.__dataclass_fields__ if name != "attempts")
