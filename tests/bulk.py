"""Bulk-load a store with realistic OTP messages, straight through `Store.insert_messages`.

For tests and benchmarks that need a big store (bench/million.py loads 1,000,000) without
sending a million HTTP requests. The messages look like those `OtpService._compose` makes for
`send_otp` with the `sms-default` template: a 6-digit code, the default style's text with that
code in it, a lifecycle of the four delivery events, `params`, `expires_at` = created + ttl,
and the resend key of the 3004 rule. Every message has its own recipient, so the 3004 rule
never blocks a load, and ids are 19-digit snowflake-like strings from one day before this
module was imported, so they never collide with the ids the mock gives later.

    ids = bulk_load(store, 10_000, tenant="team-a", now=clock.now())

Works with any back-end (memory, sqlite, redis). Purging goes by the store's *real* clock
(`real_time=`): a message may go `ttl + retention_seconds` after it was stored, whatever its
`expires_at`. `expired=True` makes codes that expired (in the tenant's virtual time) before
`now`, so they neither verify nor block a resend; to see them purged, move the store's real
clock past `ttl_seconds + retention` and call `store.purge(...)`.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Mapping

from mockserver.otp.ids import _EPOCH_MS
from mockserver.otp.model import OTP, Event, Message
from mockserver.otp.render import render
from mockserver.otp.styles import default_text
from mockserver.store.base import Store

_DAY_MS = 86_400_000
_ID_BASE = (int(time.time() * 1000) - _DAY_MS - _EPOCH_MS) << 22  # a day ago: older than any real id
_serial = itertools.count()  # shared by every call: ids and recipients stay unique per process
DELIVERY = ("plan", "target_valid", "sent", "delivered")  # as OtpService._compose records them


def recipient(serial: int, prefix: str = "+999") -> str:
    """The bulk recipient number `serial`: +999 is an unassigned country code, never a subscriber."""
    return f"{prefix}{serial:09d}"


def bulk_load(
    store: Store,
    count: int,
    *,
    tenant: str = "team-a",
    now: float | None = None,
    ttl_seconds: float = 300.0,
    template_id: str = "sms-default",
    brand_name: str = "EngageLab",
    params: Mapping[str, str] | None = None,
    expired: bool = False,
    resend_keys: bool = True,
    batch_size: int = 1_000,
    sample: int | None = None,
    seed: int = 0,
    to_prefix: str = "+999",
) -> list[str]:
    """Store `count` OTP messages of `tenant`, `batch_size` per `insert_messages` call.

    `now` is the tenant's virtual time of the sends (default: the wall clock); `expired=True`
    dates them `ttl_seconds + 1` earlier, so their codes expired at `now - 1`. Returns the ids
    of the messages stored, in order: all of them, or with `sample=k` only k spread evenly
    (first and last included), which keeps a million-message load from holding a million-id
    list. Raises RuntimeError if the store refuses a batch (a recipient already holds an
    active code: use another `to_prefix`).
    """
    if count < 0 or batch_size < 1:
        raise ValueError("count must be >= 0 and batch_size >= 1")
    rng = random.Random(seed)  # noqa: S311 - codes of a test fixture
    now = time.time() if now is None else now
    created = now - ttl_seconds - 1.0 if expired else now
    ttl_minutes = max(1, round(ttl_seconds / 60))
    text = render(default_text("default", True, True), {"brand_name": brand_name, "ttl": str(ttl_minutes)})
    head, _, tail = text.partition("{{code}}")
    base = dict(params or {})
    wanted = _sample_positions(count, sample)
    ids: list[str] = []
    done = 0
    while done < count:
        size = min(batch_size, count - done)
        batch: list[tuple[Message, str | None]] = []
        for serial in itertools.islice(_serial, size):
            at = created + 0.0  # a float object of its own, shared by its events as in _compose
            code = f"{rng.randrange(1_000_000):06d}"
            to = recipient(serial, to_prefix)
            lifecycle = (Event(DELIVERY[0], at), Event(DELIVERY[1], at), Event(DELIVERY[2], at),
                         Event(DELIVERY[3], at))
            message = Message(
                message_id=str(_ID_BASE + serial), tenant=tenant, kind=OTP, operation="send_otp", to=to,
                template_id=template_id, language="default", channel="sms", text=f"{head}{code}{tail}",
                created_at=at, code=code, expires_at=at + ttl_seconds, lifecycle=lifecycle, params=dict(base),
            )
            batch.append((message, f"{template_id}\x00{to}" if resend_keys else None))
        blocking = store.insert_messages(batch, now)
        if blocking is not None:
            raise RuntimeError(f"bulk_load: the store refused a batch: {blocking.to!r} holds an active code")
        if wanted is None:
            ids.extend(m.message_id for m, _ in batch)
        else:
            ids.extend(batch[i - done][0].message_id for i in wanted if done <= i < done + size)
        done += size
    return ids


def _sample_positions(count: int, sample: int | None) -> list[int] | None:
    if sample is None or sample >= count:
        return None
    if sample <= 1:
        return [count - 1][:sample]
    return sorted({round(i * (count - 1) / (sample - 1)) for i in range(sample)})
