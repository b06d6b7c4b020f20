"""The control plane as plain methods: see and steer the mock without HTTP.

Every face uses these: the control plane's HTTP routes (`control_http.py`), the console, the
testing helpers and certification. A call that cannot be done raises ControlError with the HTTP
status it would answer and a message saying what to change.

    >>> from mockserver.mock import OtpMock
    >>> mock = OtpMock({"seed": 1})
    >>> mock.control.clock().offset_seconds
    0.0
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mockserver.callbacks.service import EVERYONE, Callbacks
from mockserver.contract import Contract
from mockserver.errors import ApiError, ControlError
from mockserver.events import TYPES, StreamEvent
from mockserver.inbox import Inbox, InboxPage, InboxRow
from mockserver.journal import PLANES, Entry, Journal
from mockserver.otp.model import Template
from mockserver.otp.service import OtpService
from mockserver.scenarios import magic
from mockserver.scenarios.engine import ScenarioEngine
from mockserver.store.base import MAX_CLAIM, MAX_READ, MessageQuery
from mockserver.views import SentMessage, iso

MAX_ADVANCE = 10 * 365 * 86400.0
MAX_LIMIT = 10_000
MAX_INBOX = 500


@dataclass(frozen=True)
class Health:
    status: str
    store: str
    uptime_seconds: float
    messages: int
    contract: dict[str, Any]


@dataclass(frozen=True)
class ClockView:
    dev_key: str | None
    offset_seconds: float
    now: float  # virtual time, epoch seconds

    def as_json(self) -> dict[str, Any]:
        return {"dev_key": self.dev_key, "offset_seconds": self.offset_seconds, "now": iso(self.now)}


@dataclass(frozen=True)
class EventPage:
    """Records after a cursor; pass `next` as `after` to read on. `oldest` is the first record
    still kept: a cursor below it has missed what the retention (max_events) let go."""

    events: list[StreamEvent]
    next: int
    head: int
    oldest: int


class ControlPlane:
    def __init__(self, service: OtpService, scenarios: ScenarioEngine, journal: Journal, contract: Contract,
                 max_scenario_keys: int = 1000, prices: Mapping[str, float] | None = None,
                 callbacks: Callbacks | None = None, wake_sender: Callable[[], None] = lambda: None) -> None:
        self.service = service
        self.callbacks = callbacks
        self._wake_sender = wake_sender
        self._inbox = Inbox(service.store, service.now, prices or {})
        self.max_scenario_keys = max_scenario_keys
        self.store = service.store
        self.scenarios = scenarios
        self.journal = journal
        self.contract = contract
        self.started = time.time()

    def now(self, dev_key: str | None = None) -> float:
        """The virtual time of a dev_key (or everyone's)."""
        return self.service.now(dev_key or "")

    # state --------------------------------------------------------------------------------
    def health(self) -> Health:
        """Up, or ControlError 503 when the store cannot answer (checked afresh)."""
        problem = self.store.problem()
        if problem is not None:
            raise ControlError(503, f"store unavailable: {problem}")
        info = self.contract.document["info"]
        return Health("ok", self.store.name, round(time.time() - self.started, 3), self.store.count_messages(),
                      {"title": info["title"], "version": info["version"], "operations": len(self.contract.operations)})

    def messages(self, to: str | None = None, template_id: str | None = None, dev_key: str | None = None,
                 limit: int = 100) -> list[SentMessage]:
        """Sent messages, newest first, with their codes. A recipient of a space and digits with
        no message is read as the phone number it was: `?to=+6591234567` unencoded (a `+` in a
        query string means a space) arrives as ' 6591234567'."""
        _check_limit(limit, MAX_LIMIT)
        found = self.store.find_messages(MessageQuery(dev_key, to, template_id, limit))
        restored = _plus_lost(to)
        if not found and restored is not None:
            found = self.store.find_messages(MessageQuery(dev_key, restored, template_id, limit))
        return [SentMessage.of(m, self.now(m.tenant)) for m in found]

    def latest(self, to: str | None, template_id: str | None = None, dev_key: str | None = None) -> SentMessage:
        """The newest message to a recipient (' 6591234567' is read as '+6591234567' too)."""
        if to is None:
            raise ControlError(400, "query parameter 'to' is required: /_mock/messages/latest?to=%2B6591234567")
        found = self.messages(to, template_id, dev_key, limit=1)
        if not found:
            scope = f" for dev_key {dev_key!r}" if dev_key else ""
            restored = _plus_lost(to)
            hint = "" if restored is None else (f" nor to {restored!r} (a '+' in a query string means a space: "
                                                f"send it as %2B, ?to=%2B{to[1:]})")
            raise ControlError(404, f"no message to {to!r}{hint}{scope}")
        return found[0]

    def message(self, message_id: str) -> SentMessage:
        found = self.store.find_message(message_id)
        if found is None:
            raise ControlError(404, f"no message with message_id {message_id!r}")
        return SentMessage.of(found, self.now(found.tenant))

    def inbox(self, after: int = 0, dev_key: str | None = None, limit: int = 50,
              stream: str | None = None) -> InboxPage:
        """The messages that changed after a cursor of `stream`, newest first (the console's live list)."""
        _check_limit(limit, MAX_INBOX)
        if after < 0:
            raise ControlError(400, f"after: expected a cursor >= 0 (the 'cursor' of the last page), got {after}")
        return self._inbox.page(after, dev_key, limit, stream)

    def inbox_row(self, message: SentMessage) -> InboxRow:
        found = self.store.get_message(message.dev_key, message.message_id)
        if found is None:
            raise ControlError(404, f"no message with message_id {message.message_id!r}")
        return self._inbox.row(found)

    def expire(self, message_id: str) -> SentMessage:
        """End a message's code now (its timeout is recorded at once)."""
        return self._change(message_id, self.service.expire_now)

    def fail_delivery(self, message_id: str, error_code: Any = None) -> SentMessage:
        """Record that a message was not delivered (`delivered_failed` with an error code: one
        of the contract's, 5012 by default), as a magic recipient's failed delivery is."""
        if error_code is not None and (isinstance(error_code, bool) or error_code not in self.contract.errors):
            known = ", ".join(str(c) for c in sorted(self.contract.errors))
            raise ControlError(400, f"error_code: expected one of the contract's error codes ({known}), "
                                    f"got {str(error_code)[:40]!r}")
        return self._change(message_id, functools.partial(self.service.fail_delivery, error_code=error_code or 0))

    def _change(self, message_id: str, change: Any) -> SentMessage:
        tenant = self.message(message_id).dev_key
        try:
            changed = change(tenant, message_id)
        except ApiError as error:
            raise ControlError(409, error.message) from None
        if changed is None:
            raise ControlError(404, f"no message with message_id {message_id!r}")
        return SentMessage.of(changed, self.now(tenant))

    def message_requests(self, message: SentMessage, limit: int = 1000) -> list[Entry]:
        """The journal's requests that named a message (its send's reply, its verifications),
        newest first, among the last `limit` of its dev_key."""
        needle = f'"{message.message_id}"'
        return [e for e in self.journal.recent(limit, message.dev_key, "api")
                if needle in (e.body or "") or needle in (e.reply or "")]

    # the virtual clock --------------------------------------------------------------------
    def clock(self, dev_key: str | None = None) -> ClockView:
        return ClockView(dev_key, self.store.clock_offset(dev_key or ""), self.now(dev_key))

    def advance_clock(self, seconds: Any, dev_key: str | None = None) -> ClockView:
        """Move the virtual clock of everyone (or of one dev_key) forward; the steps that time
        brings (deliveries, timeouts) are recorded before this returns."""
        if not _is_seconds(seconds):
            raise ControlError(400, f"advance_seconds: expected a number of seconds from 0 to {int(MAX_ADVANCE)}, "
                                    f"got {seconds!r}")
        if self.store.clock_offset(dev_key or "") + float(seconds) > MAX_ADVANCE:
            raise ControlError(400, f"the virtual clock can run at most {int(MAX_ADVANCE)} s ahead; "
                                    "POST /_mock/reset to start over")
        self.store.advance_clock(float(seconds), dev_key)
        while self.service.settle_due() > 0:  # bounded: each message settles once per timed step
            pass
        if self.callbacks is not None and seconds:
            self.callbacks.clock_jumped(dev_key)  # retries waiting on real time: due now
        return self.clock(dev_key)

    def reset(self, dev_key: str | None = None) -> str:
        """Forget all state (and the stream's records), or one dev_key's (its scenario too)."""
        self.service.reset(dev_key)
        self.scenarios.reset(dev_key)
        if dev_key is not None:
            self.scenarios.activate(None, dev_key)
        self._inbox.new_stream()  # the open consoles' cursors are of the state gone by
        return "all" if dev_key is None else dev_key

    # templates ----------------------------------------------------------------------------
    def review(self, template_id: str, dev_key: str, status: Any, remark: str = "") -> Template:
        """Approve (2), reject (3) or send back to pending (1) a template of one dev_key."""
        check_review_status(status)
        try:
            return self.service.review_template(dev_key, template_id, status, remark)
        except ApiError as error:
            raise ControlError(404, f"{error.message}: template {template_id!r} of dev_key {dev_key!r}") from None

    # callbacks ----------------------------------------------------------------------------
    def _callbacks(self) -> Callbacks:
        if self.callbacks is None:
            raise ControlError(501, "this mock was built without callbacks")
        return self.callbacks

    def configure_callbacks(self, body: Mapping[str, Any], dev_key: str | None = None) -> dict[str, Any]:
        """Set a dev_key's callback (or everyone's, without one): url, username + secret (the
        X-CALLBACK-ID signature), authorization (sent verbatim), events, description. The URL is
        probed as EngageLab does (a POST that must answer 200 within 3 s); the result is in
        `probe`, and the configuration is saved whatever it says."""
        shown = self._callbacks().configure(dev_key or EVERYONE, body)
        self._wake_sender()
        return shown

    def callback_config(self, dev_key: str | None = None) -> dict[str, Any]:
        """A dev_key's callback configuration (everyone's without one), the secret never shown."""
        return self._callbacks().shown(dev_key or EVERYONE)

    def remove_callbacks(self, dev_key: str | None = None) -> dict[str, Any]:
        return self._callbacks().remove(dev_key or EVERYONE)

    def deliveries(self, dev_key: str | None = None, message_id: str | None = None, status: str | None = None,
                   limit: int = 100) -> list[dict[str, Any]]:
        """The callback delivery log, newest first, as JSON-ready dicts: each delivery (its body,
        events, status) with its attempts (URL, headers with the signature but never a secret,
        the answer's status and start, duration, error, scheduled or manual). The console shows
        `deliveries(message_id=...)` in a message's detail."""
        return self._callbacks().deliveries(dev_key, message_id, status, limit)

    def resend_delivery(self, delivery_id: str, dev_key: str | None = None) -> dict[str, Any]:
        """Attempt a delivery again now, whatever its status (a manual attempt)."""
        return self._callbacks().resend(delivery_id, dev_key)

    def recover_deliveries(self, since: Any, dev_key: str | None = None) -> dict[str, Any]:
        """Send every failed delivery made since a time (Unix seconds) once more."""
        found = self._callbacks().recover(since, dev_key)
        self._wake_sender()
        return found

    def trigger_callback(self, event: Any, dev_key: str | None = None, message_id: Any = None,
                         override: Any = None, scoped: bool = False) -> dict[str, Any]:
        """Send a chosen event (any row type of the contract) for a message or a synthetic one.
        An override's message_id must be a message of `dev_key` (404 otherwise); a `scoped`
        caller (one key's credentials) cannot override `to` either, but by the message's own
        recipient: a key never sends signed rows about another key's messages."""
        message = None
        if message_id is not None:
            if not isinstance(message_id, str):
                raise ControlError(400, f"message_id: expected a string, got {message_id!r}")
            found = self.message(message_id)
            if dev_key is not None and found.dev_key != dev_key:
                raise ControlError(404, f"no message with message_id {message_id!r}")
            dev_key = found.dev_key
            message = {"message_id": found.message_id, "to": found.to, "channel": found.channel,
                       "template_id": found.template_id, "created_at": found.created_at}
        if dev_key is None:
            raise ControlError(400, "dev_key: required (or a message_id, whose dev_key it is)")
        if isinstance(override, dict):
            self._own_override(override, dev_key, message, scoped)
        shown = self._callbacks().trigger(event, dev_key, dev_key, message, override)
        self._wake_sender()
        return shown

    def _own_override(self, override: dict[str, Any], dev_key: str, message: dict[str, Any] | None,
                      scoped: bool) -> None:
        recipients = {message["to"]} if message is not None else set()
        claimed = override.get("message_id")
        if "message_id" in override and (message is None or claimed != message["message_id"]):
            if not isinstance(claimed, str):
                raise ControlError(400, f"override.message_id: expected a message_id of yours, got {claimed!r}"[:200])
            found = self.store.find_message(claimed)
            if found is None or found.tenant != dev_key:
                raise ControlError(404, f"override.message_id: no message with message_id {claimed[:60]!r}")
            recipients.add(found.to)
        if scoped and "to" in override and override["to"] not in recipients:
            raise ControlError(404, "override.to: not the recipient of a message of yours; name the message "
                                    "by message_id instead")

    # scenarios ----------------------------------------------------------------------------
    def scenarios_listing(self) -> dict[str, Any]:
        """Every scenario with its description, the active ones, files that failed, magic values."""
        library = self.scenarios.library
        library.refresh(force=True)
        listed = [s.summary() for s in sorted(library.scenarios.values(), key=lambda s: s.name)]
        errors = [{"file": e.file, "message": e.message, "at": iso(e.at)} for e in library.errors.values()]
        rows = [{"recipients": list(r.recipients), "outcome": r.outcome, "error": r.error} for r in magic.table()]
        return {"scenarios": listed, "active": self.scenarios.active(), "errors": errors,
                "magic_values": {"enabled": self.scenarios.magic_values, "table": rows}}

    def active_scenarios(self) -> dict[str, Any]:
        return self.scenarios.active()

    def set_scenario(self, name: str | None, dev_key: str | None = None) -> dict[str, Any]:
        """Make a scenario active for everyone or one dev_key; None goes back to realistic."""
        if dev_key is not None and name is not None:
            keys = self.scenarios.active()["keys"]
            if dev_key not in keys and len(keys) >= self.max_scenario_keys:
                raise ControlError(400, f"{len(keys)} dev_keys have a scenario of their own, the most the mock keeps "
                                        "(setting max_scenario_keys); set one to null, or reset a key")
        try:
            self.scenarios.activate(name, dev_key)
        except KeyError:
            known = ", ".join(sorted(self.scenarios.library.scenarios))
            raise ControlError(404, f"no scenario {name!r}; known: {known}") from None
        return self.scenarios.active()

    # what happened ------------------------------------------------------------------------
    def requests(self, dev_key: str | None = None, limit: int = 100, plane: str = "api") -> list[Entry]:
        """The journal, newest first: API requests (`plane="api"`), control-plane changes
        (`"control"`) or both (`"all"`)."""
        _check_limit(limit, MAX_LIMIT)
        if plane not in (*PLANES, "all"):
            raise ControlError(400, f"plane: expected api, control or all, got {plane!r}")
        return self.journal.recent(limit, dev_key, plane)

    def events(self, after: int = 0, dev_key: str | None = None, limit: int = 100,
               types: Sequence[str] | None = None) -> EventPage:
        """Stream records after a cursor, oldest first."""
        _check_limit(limit, MAX_READ)
        if after < 0:
            raise ControlError(400, f"after: expected a cursor >= 0 (a record's id), got {after}")
        unknown = sorted(set(types or ()) - set(TYPES))
        if unknown:
            raise ControlError(400, f"type: unknown record type {unknown[0]!r}; use {', '.join(TYPES)}")
        oldest, head = self.store.event_bounds()  # read first: what is appended after is read next time
        found = self.store.read_events(after, dev_key, tuple(types) if types else None, limit)
        return EventPage(found, found[-1].seq if found else max(after, head), head, oldest)

    def claim_events(self, consumer: str, limit: int = 100, lease_seconds: float = 30.0) -> list[StreamEvent]:
        """Records for a consumer that must act on each once across workers and replicas (see
        Store.claim_events); acknowledge them with ack_events once acted on."""
        _check_consumer(consumer)
        _check_limit(limit, MAX_CLAIM)
        if not (isinstance(lease_seconds, (int, float)) and math.isfinite(lease_seconds)
                and 0 < lease_seconds <= 86400):
            raise ControlError(400, f"lease_seconds: expected seconds from 0 to 86400, got {lease_seconds!r}")
        return self.store.claim_events(consumer, limit, float(lease_seconds))

    def ack_events(self, consumer: str, ids: Sequence[int]) -> int:
        _check_consumer(consumer)
        return self.store.ack_events(consumer, list(ids))


def _plus_lost(to: str | None) -> str | None:
    """'+6591234567' if `to` is ' 6591234567', the phone number an unencoded '+' turned into."""
    if to is not None and to.startswith(" ") and to[1:].isascii() and to[1:].isdigit():
        return "+" + to[1:]
    return None


def check_review_status(status: Any) -> None:
    if status not in (1, 2, 3) or isinstance(status, bool):
        raise ControlError(400, f"status: expected 1 (pending), 2 (approved) or 3 (rejected), got {status!r}")


def _is_seconds(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value <= MAX_ADVANCE  # compared before any float(): a 400-digit int is no OverflowError


def _check_limit(limit: int, most: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= most:
        raise ControlError(400, f"limit: expected a whole number from 1 to {most}, got {limit!r}")


def _check_consumer(consumer: Any) -> None:
    if not isinstance(consumer, str) or not 1 <= len(consumer) <= 100 or not consumer.isprintable():
        raise ControlError(400, f"consumer: expected a name of 1 to 100 printable characters, got {consumer!r}")
