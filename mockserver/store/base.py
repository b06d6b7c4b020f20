"""The store interface. Every method that must be atomic says so.

State is kept per tenant (the `dev_key`), so parallel users never see each other. The
operations are shaped around what must be atomic (insert-unless-active for the 3004 window,
read-modify-write of one message for verification) so that a durable back-end can implement
each one as a transaction, a Lua script or a WATCH block instead of read-then-write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from mockserver.journal import RequestLog
from mockserver.otp.model import Message, Template

T = TypeVar("T")
Progress = dict[str, Any]  # a scenario's progress for one tenant, JSON-able
MAX_PROGRESS = 10_000  # scenario x tenant progress records kept; the least recently used go first


@dataclass(frozen=True)
class MessageQuery:
    """Filters of the control plane's message list; None means any."""

    tenant: str | None = None
    to: str | None = None
    template_id: str | None = None
    limit: int = 100


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


class Store(Protocol):
    """Where templates, messages and the virtual clock live."""

    name: str

    # tenants ------------------------------------------------------------------------------
    def seed_tenant(self, tenant: str, templates: Iterable[Template]) -> None:
        """Give a tenant its starting templates, once (atomic; later calls do nothing)."""

    def reset(self, tenant: str | None = None) -> None:
        """Forget everything of one tenant, or of all tenants and the clock."""

    def tenants(self) -> list[str]:
        """Tenants that hold state."""

    # clock --------------------------------------------------------------------------------
    def clock_offset(self, tenant: str) -> float:
        """Seconds the tenant's virtual clock is ahead of real time (global + own)."""

    def advance_clock(self, seconds: float, tenant: str | None = None) -> float:
        """Move the virtual clock of one tenant, or of everyone; returns the new offset."""

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
        self, batch: list[tuple[Message, str | None]], now: float
    ) -> Message | None:
        """Store messages unless one of their resend keys belongs to a message still active.

        Atomic for the whole batch: returns the blocking message (and stores nothing) when a key
        is held by a message active at `now`, or appears twice in the batch; else stores every
        message and returns None. A key of None means no resend rule applies to that message.
        """

    def get_message(self, tenant: str, message_id: str) -> Message | None: ...

    def update_message(
        self, tenant: str, message_id: str, step: Callable[[Message], tuple[Message, T]]
    ) -> T | None:
        """Apply a pure `step` to one message atomically; None when the message is unknown."""

    def find_messages(self, query: MessageQuery) -> list[Message]:
        """Messages newest first, filtered."""

    def count_messages(self) -> int: ...

    def purge(self, now: float) -> int:
        """Drop messages past their retention (real time); returns how many went."""

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
        back-ends retry on conflict). At most MAX_PROGRESS records are kept."""

    def clear_progress(self, scenario: str | None = None, tenant: str | None = None) -> None:
        """Forget the progress of one scenario and/or one tenant (None: every one)."""

    def request_log(self, size: int) -> RequestLog:
        """Where the journal keeps its last `size` entries."""

    def next_node(self) -> int:
        """A number for a process's message ids, one more than the last this store handed out
        (to any process sharing it); a store that no other process shares may give the pid."""
