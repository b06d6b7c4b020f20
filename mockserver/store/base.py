"""The store interface. Every method that must be atomic says so.

State is kept per tenant (the `dev_key`), so parallel users never see each other. The
operations are shaped around what must be atomic (insert-unless-active for the 3004 window,
read-modify-write of one message for verification) so that a durable back-end can implement
each one as a transaction, a Lua script or a WATCH block instead of read-then-write.

Every store also keeps the event stream (`mockserver.events`): a write that adds lifecycle
steps to a message appends their record in the same atomic operation, so the stream never
shows a step the store does not hold, nor misses one it does. What is kept, and for how long,
is the store's `policy` (`StorePolicy`), applied by `housekeeping()`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mockserver.callbacks.delivery import Delivery
from mockserver.errors import MockError
from mockserver.events import StreamEvent
from mockserver.otp.model import Message, Template
from mockserver.store.policy import PURGE_BATCH, StorePolicy

T = TypeVar("T")
Progress = dict[str, Any]  # a scenario's progress for one tenant, JSON-able
MAX_CLAIM = 1000  # stream records one claim takes at most
MAX_READ = 1000  # stream records one read returns at most


@dataclass(frozen=True)
class MessageQuery:
    """Filters of the control plane's message list; None means any."""

    tenant: str | None = None
    to: str | None = None
    template_id: str | None = None
    limit: int = 100


@dataclass(frozen=True)
class DeliveryQuery:
    """Filters of the callback delivery log; None means any."""

    tenant: str | None = None
    status: str | None = None
    message_id: str | None = None
    since: float | None = None  # created at or after (real time)
    limit: int = 100


class StaleRead(Exception):  # noqa: N818 - a signal to run the request again, not an error
    """A request acted on cached values that changed meanwhile: it wrote nothing; run it again."""


class StoreUnavailable(MockError):
    """The store cannot answer (its server is down, its file is gone); the message says why."""


class KeyFull(Exception):  # noqa: N818 - an answer of the store, like a 3004
    """A send would take a dev_key's stored messages over the policy's `max_key_bytes`."""

    def __init__(self, tenant: str, used: int, adding: int, limit: int) -> None:
        super().__init__(f"dev_key {tenant[:40]!r} holds {used} bytes of messages; {adding} more would pass "
                         f"max_key_bytes ({limit})")
        self.used, self.adding, self.limit = used, adding, limit


def check_room(tenant: str, used: int, batch: Sequence[Message], limit: int) -> None:
    """Raise KeyFull when the batch would take the tenant over `limit` bytes."""
    adding = sum(m.size for m in batch if m.tenant == tenant)
    if used + adding > limit:
        raise KeyFull(tenant, used, adding, limit)


class Scope:
    """One request's view of a store (`with store.scope() as scope`)."""

    def current(self) -> bool:
        """Whether what the request read is still current (the stores without a cache: always)."""
        return True


def find_blocking(
    batch: list[tuple[Message, str | None]], now: float, holder: Callable[[str, str], Message | None]
) -> Message | None:
    """What keeps a batch from being stored under the 3004 rule, the same in every back-end:
    the active message holding one of its resend keys (`holder(tenant, key)` reads it inside
    the back-end's transaction), or the earlier message of the batch that already uses a key."""
    first_with: dict[tuple[str, str], Message] = {}
    for message, key in batch:
        if key is None:
            continue
        if (message.tenant, key) in first_with:
            return first_with[(message.tenant, key)]
        first_with[(message.tenant, key)] = message
        current = holder(message.tenant, key)
        if current is not None and current.active(now):
            return current
    return None


def purge_deadline(message: Message, real_now: float, retention_seconds: float) -> float:
    """When a stored message may go: after its code's lifetime and the retention, in real time."""
    lifetime = (message.expires_at - message.created_at) if message.expires_at else 0.0
    return real_now + lifetime + retention_seconds


def due_estimate(message: Message, offset: float) -> float | None:
    """When the message's next timed step falls due on the base clock (the service's clock
    before the virtual offsets: real time when served), with the tenant's clock `offset`
    seconds ahead of it; a later clock move brings it closer (advance_clock)."""
    due = message.next_due()
    return None if due is None else due - offset


class Store(Protocol):
    """Where templates, messages, the virtual clock and the event stream live."""

    name: str
    policy: StorePolicy
    unavailable: tuple[type[BaseException], ...]  # what its calls raise when the back-end cannot answer

    def problem(self) -> str | None:
        """Why the store cannot answer now (checked afresh), or None when it can."""

    # tenants ------------------------------------------------------------------------------
    def seed_tenant(self, tenant: str, templates: Iterable[Template]) -> None:
        """Give a tenant its starting templates, once (atomic; later calls do nothing)."""

    def reset(self, tenant: str | None = None) -> None:
        """Forget everything of one tenant (its callback deliveries too), or of all tenants, the
        clock, the stream's records (their numbering goes on, so a reader's cursor stays valid)
        and the delivery log."""

    def tenants(self) -> list[str]:
        """Tenants that hold state."""

    # clock --------------------------------------------------------------------------------
    def clock_offset(self, tenant: str) -> float:
        """Seconds the tenant's virtual clock is ahead of real time (global + own)."""

    def advance_clock(self, seconds: float, tenant: str | None = None) -> float:
        """Move the virtual clock of one tenant, or of everyone (bringing the timed steps of their
        messages closer by as much); returns the new offset."""

    # templates ----------------------------------------------------------------------------
    def get_template(self, tenant: str, template_id: str) -> Template | None: ...

    def list_templates(self, tenant: str) -> list[Template]:
        """Templates in creation order."""

    def insert_template(self, tenant: str, template: Template) -> bool:
        """Add a template unless its id exists (atomic); False when it did."""

    def replace_template(self, tenant: str, template: Template) -> bool:
        """Overwrite an existing template (for review changes); False when it does not exist."""

    def delete_template(self, tenant: str, template_id: str) -> bool:
        """Remove a template; False when it did not exist."""

    # messages -----------------------------------------------------------------------------
    def insert_messages(
        self, batch: list[tuple[Message, str | None]], now: float, also: Sequence[StreamEvent] = ()
    ) -> Message | None:
        """Store messages unless one of their resend keys belongs to a message still active.

        Atomic for the whole batch: returns the blocking message (and stores nothing) when a key
        is held by a message active at `now`, or appears twice in the batch; raises KeyFull (and
        stores nothing) when the batch would take its tenant over `policy.max_key_bytes`; else
        stores every message, appends one `message` record per message to the stream, then the
        records `also` (the request's journal record: one write for both), and returns None. A
        key of None means no resend rule applies to that message. (A batch is one tenant's.)
        """

    def get_message(self, tenant: str, message_id: str) -> Message | None: ...

    def find_message(self, message_id: str) -> Message | None:
        """A message by its id whatever its tenant (ids are unique across tenants): one lookup."""

    def update_message(
        self, tenant: str, message_id: str, step: Callable[[Message], tuple[Message, T]],
        also: Callable[[T], Sequence[StreamEvent]] | None = None,
    ) -> T | None:
        """Apply a pure `step` to one message atomically, appending a `message` record for the
        lifecycle steps it added, then the records `also(result)` gives; None when the message
        is unknown. `step` and `also` may run more than once (optimistic back-ends retry on
        conflict); an exception from either writes nothing."""

    def find_messages(self, query: MessageQuery) -> list[Message]:
        """Messages newest first, filtered."""

    def count_messages(self) -> int: ...

    def due_messages(self, now: float, limit: int) -> list[tuple[str, str]]:
        """(tenant, message_id) of messages whose next timed step is due by `now` on the base
        clock; each is handed out once, until the update that settles it sets its next step."""

    def purge(self, now: float) -> int:
        """Drop messages past their retention (real time); returns how many went."""

    def housekeeping(self, limit: int = PURGE_BATCH) -> None:
        """Apply the policy by the store's own real clock: purge (at most `limit` messages, so a
        mass expiry drains over several runs), then every cap."""

    # the control plane's state, shared by every worker -----------------------------------
    def get_values(self, names: Sequence[str]) -> dict[str, str]:
        """The control values (such as active scenarios) among `names` that are set."""

    def set_value(self, name: str, value: str | None) -> None:
        """Set a control value, or remove it (None)."""

    def values(self, prefix: str) -> dict[str, str]:
        """Every control value whose name starts with `prefix`."""

    def update_progress(
        self, scenario: str, tenant: str, step: Callable[[Progress | None], tuple[Progress, T]]
    ) -> T:
        """Apply a pure `step` atomically to a scenario's progress for one tenant (None when it
        has none yet) and keep what it returns. `step` may run more than once (optimistic
        back-ends retry on conflict). At most `policy.max_progress` records are kept."""

    def clear_progress(self, scenario: str | None = None, tenant: str | None = None) -> None:
        """Forget the progress of one scenario and/or one tenant (None: every one)."""

    # the event stream ---------------------------------------------------------------------
    def append_events(self, events: Sequence[StreamEvent]) -> list[int]:
        """Append records (atomic, in order); returns their sequence numbers."""

    def read_events(self, after: int = 0, tenant: str | None = None, types: Sequence[str] | None = None,
                    limit: int = 100) -> list[StreamEvent]:
        """Records with a sequence number above `after`, oldest first, filtered; at most `limit`."""

    def recent_events(self, tenant: str | None = None, types: Sequence[str] | None = None,
                      limit: int = 100) -> list[StreamEvent]:
        """The newest records, newest first, filtered."""

    def event_bounds(self) -> tuple[int, int]:
        """(the oldest sequence number kept, the newest given): (head + 1, head) when empty."""

    def claim_events(self, consumer: str, limit: int, lease_seconds: float) -> list[StreamEvent]:
        """Records for `consumer` to act on, atomically: first those whose lease ran out
        unacknowledged, then the next ones after the consumer's cursor (which starts before the
        oldest record kept). Two processes claiming under one name never get the same record
        while its lease runs; a record is handed out again only after its lease ran out."""

    def ack_events(self, consumer: str, seqs: Sequence[int]) -> int:
        """Mark claimed records as done; returns how many were pending."""

    # callback deliveries ------------------------------------------------------------------
    def add_deliveries(self, deliveries: Sequence[Delivery]) -> int:
        """Keep new deliveries (atomic; one whose id is kept already is skipped, so routing a
        record twice adds nothing); returns how many were added. At most `policy.max_deliveries`
        are kept: the oldest finished ones go first; when none is left, the oldest pending ones
        of the dev_keys being added to (the new ones included, a warning logged), never another
        dev_key's: one key's triggers cannot push out another's pending deliveries."""

    def get_delivery(self, delivery_id: str) -> Delivery | None: ...

    def update_delivery(self, delivery_id: str, step: Callable[[Delivery], tuple[Delivery, T]]) -> T | None:
        """Apply a pure `step` to one delivery atomically (it returns the delivery itself when
        nothing changes); None when the delivery is unknown. `step` may run more than once."""

    def due_deliveries(self, now: float, limit: int) -> list[str]:
        """Ids of deliveries whose `due` is at or before `now` (real time), the soonest first."""

    def find_deliveries(self, query: DeliveryQuery) -> list[Delivery]:
        """Deliveries newest first, filtered."""

    def scope(self) -> AbstractContextManager[Scope]:
        """One request: a store that caches what rarely changes may check its cache once for the
        request instead of at every read; then a write may raise StaleRead (writing nothing), and
        a request that wrote nothing asks `scope.current()` before it answers."""

    def next_node(self) -> int:
        """A number for a process's message ids, one more than the last this store handed out
        (to any process sharing it); a store that no other process shares may give the pid."""

    def close(self) -> None:
        """Release connections (a store must not be used after)."""
