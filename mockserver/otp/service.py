"""The OTP service: one method per operation of the API, over a store. No Flask here.

Bodies arrive already checked against the contract's schemas; this module applies the rules
a schema cannot express (templates that exist and are approved, codes that expire, attempts,
the resend window) and answers with plain dicts or an ApiError.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from mockserver.errors import ApiError
from mockserver.events import StreamEvent
from mockserver.otp import codes, templates
from mockserver.otp.clock import Clock
from mockserver.otp.ids import MessageIds
from mockserver.otp.model import (
    APPROVED,
    CUSTOM_CODE,
    CUSTOM_MESSAGE,
    OTP,
    PENDING,
    Event,
    Message,
    Template,
    stored_bytes,
)
from mockserver.otp.render import TooLong, render
from mockserver.otp.rules import Outcome, settle, verify_step
from mockserver.store.base import KeyFull, Store

_PHONE = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
_MAX_EMAIL = 254  # RFC 5321's limit on a path; checked first so no pattern sees a huge string
_VERIFY_ERRORS = {
    Outcome.EXPIRED: "verify code expired",
    Outcome.ALREADY_VERIFIED: "verify code already verified",
    Outcome.EXHAUSTED: "verify code invalid: too many wrong attempts",
    Outcome.UNDELIVERED: "verify code invalid: the message was never delivered",
}
# The error code a failed delivery step carries when a scenario names none (EngageLab's callback
# code space is unknown; the mock uses the API catalogue's send errors, with their messages).
DELIVERY_ERRORS = {"target_invalid": 5011, "sent_failed": 5001, "delivered_failed": 5012}


@dataclass(frozen=True)
class OtpPolicy:
    """The behaviours the real API leaves unknown, as settings (see the README's table)."""

    max_verify_attempts: int = 5
    resend_guard: tuple[str, ...] = ("send_otp",)
    template_review: str = "approve"  # or "pending": new templates wait for review
    verify_custom_codes: bool = False
    custom_code_ttl_minutes: int = 5
    delivery_delay_seconds: float = 0.0  # virtual seconds from "sent" to "delivered"
    starting_templates: tuple[Template, ...] = field(default_factory=tuple)
    max_recipients: int = 100
    max_message_bytes: int = 16_384
    max_templates: int = 200


@dataclass(frozen=True)
class SendEffects:
    """What a scenario or a magic value changes in a send, decided before anything is stored:
    a fixed code, a shorter life, channels whose delivery fails (so it falls back along the
    template's strategy), a delivery that fails for good (`failure`: target_invalid, sent_failed
    or delivered_failed on every channel, with its error code), a code that never verifies."""

    code: str | None = None
    ttl_seconds: float | None = None
    fail_channels: frozenset[str] = frozenset()
    never_verifies: bool = False
    failure: tuple[str, int] | None = None

    def merged(self, other: SendEffects) -> SendEffects:
        """These effects with `other`'s set values on top."""
        return SendEffects(other.code if other.code is not None else self.code,
                           other.ttl_seconds if other.ttl_seconds is not None else self.ttl_seconds,
                           self.fail_channels | other.fail_channels, self.never_verifies or other.never_verifies,
                           other.failure if other.failure is not None else self.failure)


REALISTIC = SendEffects()


class Commit(Protocol):
    """How a write carries the request's journal record (pipeline.Commit): the records of the
    answer about to be given, and `done()` once the store wrote them with the write."""

    def records(self, result: dict[str, Any] | ApiError, virtual_now: float) -> list[StreamEvent]: ...

    def done(self) -> None: ...


class OtpService:
    """Applies the OTP rules for one store; thread-safe as long as the store is."""

    def __init__(self, store: Store, clock: Clock, rng: random.Random, policy: OtpPolicy,
                 real_time: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock
        self.rng = rng
        self.policy = policy
        self.real_time = real_time
        self.ids = MessageIds(issue=store.next_node)

    def now(self, tenant: str) -> float:
        """The tenant's virtual time: the clock plus the offset set through `/_mock/clock`."""
        return self.clock.now() + self.store.clock_offset(tenant)

    def _ready(self, tenant: str) -> None:
        self.store.seed_tenant(tenant, self.policy.starting_templates)

    # sending ------------------------------------------------------------------------------
    def send_otp(self, tenant: str, body: dict[str, Any], effects: SendEffects = REALISTIC,
                 commit: Commit | None = None) -> dict[str, Any]:
        template = self._sendable(tenant, body["template"]["id"])
        config = template.code_config
        if config is None:
            raise ApiError(3003, f"template {template.template_id!r} has no verify_code_config; "
                                 "send_otp needs a template with a verification code")
        # Drawn even when a magic value fixes the code, so a seeded run's later codes stay the same.
        drawn = codes.generate(self.rng, config["verify_code_type"], config["verify_code_len"])
        code = effects.code or drawn
        message = self._compose(tenant, "send_otp", OTP, template, body, body["to"], code, effects)
        return self._deliver(template, [message], commit)

    def send_custom_code(self, tenant: str, body: dict[str, Any], effects: SendEffects = REALISTIC,
                         commit: Commit | None = None) -> dict[str, Any]:
        template = self._sendable(tenant, body["template"]["id"])
        message = self._compose(tenant, "send_custom_code", CUSTOM_CODE, template, body,
                                body["to"], body["code"], effects)
        return self._deliver(template, [message], commit)

    def send_custom_message(self, tenant: str, body: dict[str, Any], effects: SendEffects = REALISTIC,
                            commit: Commit | None = None) -> dict[str, Any]:
        template = self._sendable(tenant, body["template"]["id"])
        params = body["template"].get("params") or {}
        if templates.is_authentication(template) and "code" not in params:
            raise ApiError(3002, "template.params.code: required field is missing "
                                 f"(template {template.template_id!r} is an authentication template)")
        recipients = body["to"] if isinstance(body["to"], list) else [body["to"]]
        if len(recipients) > self.policy.max_recipients:
            raise ApiError(3002, f"to: {len(recipients)} recipients, more than the mock takes in one message "
                                 f"({self.policy.max_recipients}, setting max_recipients; the real API's limit "
                                 "is unknown)")
        # Every recipient is checked, and stored in one atomic batch: a bad one sends nothing.
        messages = [
            self._compose(tenant, "send_custom_message", CUSTOM_MESSAGE, template, body, to,
                          params.get("code"), effects)
            for to in recipients
        ]
        return self._deliver(template, messages, commit)

    def _sendable(self, tenant: str, template_id: str) -> Template:
        template = self.store.get_template(tenant, template_id)
        if template is None:  # seeded lazily: a send of a seeded tenant reads the store once
            self._ready(tenant)
            template = self.store.get_template(tenant, template_id)
        if template is None:
            raise ApiError(4001, f"config not exist: template {template_id!r}")
        if template.status != APPROVED:
            state = "pending review (status 1)" if template.status == PENDING else "rejected (status 3)"
            raise ApiError(3003, f"template {template_id!r} is {state}; only approved templates can send")
        return template

    def _compose(self, tenant: str, operation: str, kind: str, template: Template, body: dict[str, Any],
                 to: str, code: str | None, effects: SendEffects) -> Message:
        """The message as it is really sent, whole: its channel after any fallback, its code, its
        text as the recipient sees it, its expiry and the steps of its delivery so far."""
        strategy = template.strategy
        _check_recipient(to, strategy[0])
        now, real = self.now(tenant), self.real_time()
        channel, steps, reached = _delivery(strategy, effects, now, real)
        delivered = not reached or self.policy.delivery_delay_seconds <= 0
        if reached and delivered:
            steps.append(Event("delivered", now, channel if effects.fail_channels else "", real))
        language = str(body["template"].get("language") or "default")
        raw_text, subject = templates.content(template, channel, language)
        params = {str(k): str(v) for k, v in (body["template"].get("params") or {}).items()}
        values = {**templates.preset_params(template, channel, language), **params}
        if code is not None:
            values["code"] = code
        expires_at = self._expiry(kind, template, now)
        if effects.ttl_seconds is not None:
            expires_at = now + effects.ttl_seconds
        limit = self.policy.max_message_bytes
        try:  # bounded: the params alone, then the text as it grows, then the whole in bytes
            size = stored_bytes("", None, params.items())
            if size <= limit:
                text = render(raw_text, values, limit - size)
                subject = render(subject, values, limit - size - len(text)) if subject else None
                size = stored_bytes(text, subject, params.items())
        except TooLong:
            size = limit + 1
        if size > limit:
            raise ApiError(3002, f"template.params: the message would hold more than max_message_bytes ({limit}) "
                                 "bytes (its text, subject and params); send shorter params or raise the setting")
        return Message(
            message_id=self.ids.next(), tenant=tenant, kind=kind, operation=operation, to=to,
            template_id=template.template_id, language=language, channel=channel,
            text=text, subject=subject,
            created_at=now, code=code, expires_at=expires_at,
            max_attempts=self.policy.max_verify_attempts, lifecycle=tuple(steps), params=params,
            never_verifies=effects.never_verifies,
            deliver_at=None if delivered else now + self.policy.delivery_delay_seconds,
        )

    def _expiry(self, kind: str, template: Template, now: float) -> float | None:
        ttl = template.ttl_minutes
        if kind == OTP or (kind == CUSTOM_CODE and self.policy.verify_custom_codes):
            return now + 60 * (ttl or self.policy.custom_code_ttl_minutes)
        return now + 60 * ttl if ttl else None

    def _deliver(self, template: Template, messages: list[Message], commit: Commit | None) -> dict[str, Any]:
        """Store the messages of one send atomically, or refuse them all with 3004. The reply
        names the strategy's first channel, as EngageLab's does, whatever the delivery did."""
        first = messages[0]
        reply = {"message_id": first.message_id, "send_channel": template.strategy[0]}
        also = commit.records(reply, first.created_at) if commit is not None else ()
        try:
            blocking = self.store.insert_messages([(m, self._resend_key(m)) for m in messages], first.created_at,
                                                  also)
        except KeyFull as full:
            raise ApiError(3002, f"{full}: the mock keeps at most that much per dev_key (setting max_key_bytes); "
                                 "POST /_mock/reset {\"dev_key\": ...} to start over, or wait for the retention "
                                 "to purge") from None
        if blocking is not None:
            left = max(1, int((blocking.expires_at or first.created_at) - first.created_at) + 1)
            raise ApiError(3004, f"frequency limit: a code sent to {blocking.to[:40]!r} with template "
                                 f"{blocking.template_id!r} is still valid (about {left} s left)")
        if commit is not None:
            commit.done()
        return reply

    def _resend_key(self, message: Message) -> str | None:
        """The 3004 rule's key: one valid code per template and recipient, for guarded operations."""
        guarded = message.operation in self.policy.resend_guard
        if not guarded or message.code is None or message.expires_at is None:
            return None
        return f"{message.template_id}\x00{message.to}"

    # verification -------------------------------------------------------------------------
    def verify(self, tenant: str, body: dict[str, Any], commit: Commit | None = None) -> dict[str, Any]:
        message_id, given = body["message_id"], body["verify_code"]
        now, real = self.now(tenant), self.real_time()

        def step(message: Message) -> tuple[Message, Outcome]:
            if message.kind != OTP and not (message.kind == CUSTOM_CODE and self.policy.verify_custom_codes):
                raise ApiError(3003, f"message {message_id} was sent by {message.operation} with a "
                                     "caller-made code; verify it in your own system")
            return verify_step(message, given, now, real)

        def also(outcome: Outcome) -> list[StreamEvent]:
            assert commit is not None
            return commit.records(_verify_result(outcome, message_id, given), now)

        outcome = self.store.update_message(tenant, message_id, step, also if commit is not None else None)
        if outcome is None:
            raise ApiError(4001, f"message not exist: message_id {message_id!r}")
        if commit is not None:
            commit.done()
        result = _verify_result(outcome, message_id, given)
        if isinstance(result, ApiError):
            raise result
        return result

    # time ---------------------------------------------------------------------------------
    def settle_due(self, limit: int = 1000) -> int:
        """Record the steps that time alone has brought (delayed deliveries, timeouts of codes
        nobody verified) for messages that are due; returns how many messages were looked at."""
        due = self.store.due_messages(self.clock.now(), limit)
        real = self.real_time()
        for tenant, message_id in due:
            self.store.update_message(tenant, message_id, functools.partial(_settled, now=self.now(tenant), real=real))
        return len(due)

    def expire_now(self, tenant: str, message_id: str) -> Message | None:
        """End a code's life at the dev_key's virtual now: its `verified_timeout` step is recorded
        at once. None when the message is unknown; ApiError 3003 when it has no live code."""
        now, real = self.now(tenant), self.real_time()

        def step(message: Message) -> tuple[Message, Message]:
            if message.code is None or message.expires_at is None:
                raise ApiError(3003, f"message {message_id} has no code that expires (sent by {message.operation})")
            if message.verified or message.status_at(now) == "verified_timeout":
                state = "verified" if message.verified else "expired"
                raise ApiError(3003, f"message {message_id}'s code is {state} already")
            ended = settle(replace(message, expires_at=now, deliver_at=None), now, real)  # undelivered: it never is
            return ended, ended

        return self.store.update_message(tenant, message_id, step)

    def fail_delivery(self, tenant: str, message_id: str, error_code: int = 0) -> Message | None:
        """Record that the message did not reach its recipient (`delivered_failed` on its channel,
        with `error_code`, by default DELIVERY_ERRORS' one), as a late delivery report would: after
        `delivered`, or instead of a delivery still on its way. The same failed delivery as a magic
        recipient's or a scenario's: the code neither verifies nor times out. None when the message
        is unknown; ApiError 3003 when its delivery failed already, or it is verified or expired."""
        now, real = self.now(tenant), self.real_time()
        code = error_code or DELIVERY_ERRORS["delivered_failed"]

        def step(message: Message) -> tuple[Message, Message]:
            if message.verified:
                raise ApiError(3003, f"message {message_id} was verified: its code evidently arrived")
            if message.status_at(now) == "verified_timeout":
                raise ApiError(3003, f"message {message_id}'s code has expired: its life is over")
            if message.undelivered:
                raise ApiError(3003, f"message {message_id}'s delivery has failed already "
                                     f"({message.lifecycle[-1].status})")
            failed = replace(message, deliver_at=None, lifecycle=(
                *message.lifecycle, Event("delivered_failed", now, message.channel, real, code)))
            return failed, failed

        return self.store.update_message(tenant, message_id, step)

    # templates ----------------------------------------------------------------------------
    def create_template(self, tenant: str, body: dict[str, Any]) -> dict[str, Any]:
        self._ready(tenant)
        template = templates.new_template(body, self.now(tenant), self.policy.template_review)
        if len(self.store.list_templates(tenant)) >= self.policy.max_templates:
            raise ApiError(3002, f"template_id: dev_key {tenant[:40]!r} has {self.policy.max_templates} templates, "
                                 "the most the mock keeps (setting max_templates); delete one first")
        if not self.store.insert_template(tenant, template):
            raise ApiError(3003, f"template_id {template.template_id!r} already exists")
        return {"code": 0, "message": "success"}

    def list_templates(self, tenant: str) -> list[dict[str, Any]]:
        self._ready(tenant)
        return [templates.summary(t) for t in self.store.list_templates(tenant)]

    def get_template(self, tenant: str, template_id: str) -> dict[str, Any]:
        self._ready(tenant)
        template = self.store.get_template(tenant, template_id)
        if template is None:
            raise ApiError(4001, "config not exist")
        return templates.detail(template)

    def delete_template(self, tenant: str, template_id: str) -> dict[str, Any]:
        self._ready(tenant)
        if not self.store.delete_template(tenant, template_id):
            raise ApiError(4001, "config not exist")
        return {"code": 0, "message": "success"}

    def review_template(self, tenant: str, template_id: str, status: int, remark: str) -> Template:
        """Approve (2) or reject (3) a template, as EngageLab's reviewers would; the stream gets
        a `template` record (the notification EngageLab's callbacks send)."""
        self._ready(tenant)
        template = self.store.get_template(tenant, template_id)
        if template is None:
            raise ApiError(4001, "config not exist")
        updated = replace(template, status=status, audit_remark=remark)
        self.store.replace_template(tenant, updated)
        data = {"template_id": template_id, "status": status, "audit_remark": remark, "previous": template.status}
        self.store.append_events([StreamEvent("template", tenant, self.real_time(), self.now(tenant), data)])
        return updated

    def reset(self, tenant: str | None = None) -> None:
        self.store.reset(tenant)


def _verify_result(outcome: Outcome, message_id: str, given: str) -> dict[str, Any] | ApiError:
    """The answer to a verification: the reply body, or the error to raise."""
    if outcome in _VERIFY_ERRORS:
        return ApiError(3003, _VERIFY_ERRORS[outcome])
    return {"message_id": message_id, "verify_code": given, "verified": outcome is Outcome.VERIFIED}


def _settled(message: Message, now: float, real: float) -> tuple[Message, None]:
    return settle(message, now, real), None


def _delivery(strategy: list[str], effects: SendEffects, now: float,
              real: float) -> tuple[str, list[Event], bool]:
    """The channel that delivers, the steps up to its `sent`, and whether one is reached: each
    failing channel of the strategy is tried in order (sent, delivered_failed) before the next;
    when every one fails, the last one's failure ends the delivery. A `failure` ends it at its
    stage: the target (target_invalid), the first channel's send (sent_failed), or each channel."""
    failure, code = effects.failure or ("delivered_failed" if effects.fail_channels else "", 0)
    code = code or DELIVERY_ERRORS.get(failure, 0)
    if failure == "target_invalid":
        return strategy[0], [Event("plan", now, "", real), Event("target_invalid", now, "", real, code)], False
    steps = [Event("plan", now, "", real), Event("target_valid", now, "", real)]
    if failure == "sent_failed":
        return strategy[0], [*steps, Event("sent_failed", now, strategy[0], real, code)], False
    failing = effects.fail_channels if effects.failure is None else frozenset(strategy)
    if not failing:
        return strategy[0], [*steps, Event("sent", now, "", real)], True
    channel = strategy[0]
    for channel in strategy:
        steps.append(Event("sent", now, channel, real))
        if channel not in failing:
            return channel, steps, True
        steps.append(Event("delivered_failed", now, channel, real, code))
    return channel, steps, False


def _check_recipient(to: str, channel: str) -> None:
    """A phone number for phone channels, an email address for email (codes: see README)."""
    is_phone = len(to) <= 16 and _PHONE.fullmatch(to) is not None
    is_email = not is_phone and _is_email(to)  # a phone number has no @
    shown = repr(to[:40]) + ("..." if len(to) > 40 else "")
    if not (is_phone or is_email):
        raise ApiError(5011, f"invalid phone number: {shown} is neither an international "
                             "number (+ and 7 to 15 digits) nor an email address")
    if channel == "email" and not is_email:
        raise ApiError(3003, f"template sends by email; 'to' must be an email address, got {shown}")
    if channel != "email" and not is_phone:
        raise ApiError(3003, f"template sends by {channel}; 'to' must be a phone number, got {shown}")


def _is_email(to: str) -> bool:
    """A plain address check in linear time: one @, a local part, a dotted domain, no spaces."""
    if len(to) > _MAX_EMAIL or not to.isascii() or any(c.isspace() for c in to):
        return False
    local, at, domain = to.partition("@")
    if not at or not local or "@" in domain:
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(labels)
