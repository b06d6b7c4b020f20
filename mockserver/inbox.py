"""The inbox: every message the mock "sent", newest first, as the console and its live updates
show it, read from the store and its event stream (so every worker's messages appear in every
tab). Pure.

A page after a cursor holds the messages that changed since it (their latest state), at most
`limit` of them; when more changed than a page holds, it says `resync` and holds the newest
messages instead, so a tab under a flood of sends does bounded work per poll, and the tabs a
flood outran share one such page for a quarter of a second (ten tabs cost the API as one).

Every page names its `stream`: an id that changes when the state is reset (and that a new
memory store, in a new process, makes afresh). A reader whose cursor belongs to another stream,
or lies before the oldest record kept, gets the newest messages as a resync.
"""

from __future__ import annotations

import functools
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.events import StreamEvent
from mockserver.otp.model import FAILED, Message, Template
from mockserver.store import MessageQuery, Store
from mockserver.views import iso

CURRENCY = "USD"
READ_AHEAD = 4  # records read per row of a page: a message's records come several per send
FLOOD_AHEAD = 4  # records per row beyond which every key's changes are not read (a send makes about two)
FLOOD_REUSE_SECONDS = 0.25  # tabs outrun by a flood share one page of the newest (measured: bench/console.py)
MAX_FLOOD_PAGES = 256
STREAM_VALUE = "inbox.stream"  # the store's value that names the stream the cursors belong to


@dataclass(frozen=True)
class InboxRow:
    """One line of the inbox. `sent_at` (real time) and `cost` are None on an update of a message
    the reader already has (a verification, a timeout): the reader keeps what it had."""

    message_id: str
    dev_key: str
    to: str
    template_id: str
    template_name: str
    channel: str
    status: str
    code: str | None
    verified: bool
    attempts: int
    virtual_at: float
    sent_at: float | None
    expires_at: float | None
    cost: float | None
    operation: str

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id, "dev_key": self.dev_key, "to": self.to,
            "template_id": self.template_id, "template_name": self.template_name, "channel": self.channel,
            "status": self.status, "code": self.code, "verified": self.verified, "attempts": self.attempts,
            "virtual_at": iso(self.virtual_at), "sent_at": iso(self.sent_at), "expires_at": iso(self.expires_at),
            "cost": self.cost, "currency": CURRENCY, "operation": self.operation,
        }


@dataclass(frozen=True)
class InboxPage:
    rows: list[InboxRow]
    cursor: int  # pass it as `after` for the next page
    resync: bool  # the rows are the newest messages, not the changes: replace the list with them
    stream: str = ""  # the stream the cursor belongs to: another one means the state was reset

    @functools.cached_property
    def rows_json(self) -> list[dict[str, Any]]:
        """The rows as JSON, made once (a page shared by the tabs of a flood is sent many times)."""
        return [row.as_json() for row in self.rows]


class Inbox:
    def __init__(self, store: Store, now: Callable[[str], float], prices: Mapping[str, float]) -> None:
        self.store = store
        self.now = now
        self.prices = dict(prices)
        self._floods: dict[tuple[str | None, int], tuple[float, InboxPage]] = {}

    def stream(self) -> str:
        """The id of the stream the cursors belong to (made on first use, kept by the store)."""
        found = self.store.get_values([STREAM_VALUE]).get(STREAM_VALUE)
        return found if found is not None else self.new_stream()

    def new_stream(self) -> str:
        """After a reset: every reader's cursor is of a stream gone by."""
        made = secrets.token_hex(8)
        self.store.set_value(STREAM_VALUE, made)
        self._floods.clear()
        return made

    def page(self, after: int, dev_key: str | None = None, limit: int = 50, stream: str | None = None) -> InboxPage:
        """The messages that changed after the cursor `after` of the stream `stream` (0: the
        newest, as a resync; so is a cursor of another stream, or one before the oldest record)."""
        current = self.stream()
        low, head = self.store.event_bounds()  # read first: what is appended after is read next time
        if after <= 0 or after > head or after < low - 1 or (stream is not None and stream != current):
            return InboxPage(self.newest(dev_key, limit), head, True, current)
        if dev_key is None and head - after > limit * FLOOD_AHEAD:  # a flood: more records than a page's worth
            return self._flooded(head, dev_key, limit, current, after)
        found = self.store.read_events(after, dev_key, ("message",), limit * READ_AHEAD)
        if len(found) >= limit * READ_AHEAD:
            return self._flooded(head, dev_key, limit, current, after)
        latest: dict[str, StreamEvent] = {}
        made: dict[str, StreamEvent] = {}  # the record that made a message, when it is in the range
        steps: dict[str, list[dict[str, Any]]] = {}  # the steps the range added to each message
        for event in found:
            key = event.data["message_id"]
            latest[key] = event  # the last record of each message
            steps.setdefault(key, []).extend(event.data["steps"])
            if event.data.get("new"):
                made[key] = event
        if len(latest) > limit:
            return self._flooded(head, dev_key, limit, current, after)
        names = _Names(self.store)
        rows = [self._from_event(e, names, made.get(k), steps[k]) for k, e in latest.items()]
        rows.sort(key=lambda r: (r.virtual_at, r.message_id), reverse=True)  # newest first, as a resync
        return InboxPage(rows, found[-1].seq if found else head, False, current)

    def _flooded(self, head: int, dev_key: str | None, limit: int, stream: str, after: int) -> InboxPage:
        """The newest messages, for every tab that a flood of sends outran: built at most once
        per FLOOD_REUSE_SECONDS per dev_key (its cursor is the head it was built at, so a tab
        that takes it reads on from there and misses nothing)."""
        key = (dev_key, limit)
        now = time.monotonic()
        kept = self._floods.get(key)
        if kept is not None and now - kept[0] < FLOOD_REUSE_SECONDS and kept[1].stream == stream \
                and kept[1].cursor > after:  # never older than what the reader has (a reset looks so)
            return kept[1]
        page = InboxPage(self.newest(dev_key, limit), head, True, stream)
        if len(self._floods) >= MAX_FLOOD_PAGES:
            self._floods.clear()
        self._floods[key] = (now, page)
        return page

    def newest(self, dev_key: str | None, limit: int) -> list[InboxRow]:
        names = _Names(self.store)
        return [self.row(m, names) for m in self.store.find_messages(MessageQuery(dev_key, None, None, limit))]

    def row(self, message: Message, names: _Names | None = None) -> InboxRow:
        now = self.now(message.tenant)
        sent = next((s.real_at for s in message.lifecycle if s.real_at), None)
        return InboxRow(message.message_id, message.tenant, message.to, message.template_id,
                        (names or _Names(self.store)).of(message.tenant, message.template_id), message.channel,
                        message.status_at(now), message.code, message.verified, message.attempts,
                        message.created_at, sent, message.expires_at,
                        self.cost([s.detail or message.channel for s in message.lifecycle if s.status == "sent"]),
                        message.operation)

    def _from_event(self, event: StreamEvent, names: _Names, made: StreamEvent | None,
                    steps: list[dict[str, Any]]) -> InboxRow:
        """A row from a message's last record of the page; `made` is the record that made it, when
        the page holds that too (a send verified within one poll is still new to the reader, with
        its send time and cost), and `steps` what the page's records added."""
        data = event.data
        tenant = event.tenant or ""
        status = data["status"]
        expires = data.get("expires_at")
        if data.get("code") is not None and not data["verified"] and expires is not None \
                and self.now(tenant) >= expires and status not in ("verified_timeout", *FAILED):
            status = "verified_timeout"  # expired (a failed delivery never times out); recorded within a second
        new = made is not None
        sent = [s.get("detail") or data["channel"] for s in steps if s["status"] == "sent"]
        return InboxRow(data["message_id"], tenant, data["to"], data["template_id"],
                        names.of(tenant, data["template_id"]), data["channel"], status, data.get("code"),
                        bool(data["verified"]), int(data.get("attempts", 0)), float(data["created_at"]),
                        made.at if made is not None else None, expires, self.cost(sent) if new else None,
                        data["operation"])

    def cost(self, channels: list[str]) -> float:
        """The estimated cost of the sends: the price of each channel tried (a fallback pays twice)."""
        return round(sum(self.prices.get(channel, 0.0) for channel in channels), 6)


class _Names:
    """Template names (their description) looked up once per page."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.known: dict[tuple[str, str], str] = {}

    def of(self, tenant: str, template_id: str) -> str:
        key = (tenant, template_id)
        if key not in self.known:
            template: Template | None = self.store.get_template(tenant, template_id)
            self.known[key] = str(template.body.get("description") or template_id) if template else template_id
        return self.known[key]
