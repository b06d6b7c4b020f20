"""The records the mock keeps: templates and messages. Plain, immutable dataclasses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

PENDING, APPROVED, REJECTED = 1, 2, 3
# Message kinds: which operation made the message, and so whether verify_otp may check it.
OTP, CUSTOM_CODE, CUSTOM_MESSAGE = "otp", "custom_code", "custom_message"
# Steps that end a delivery when they are a message's last: the code never reached anyone.
FAILED = frozenset({"target_invalid", "sent_failed", "delivered_failed"})
CHANNELS = ("whatsapp", "sms", "voice", "email")


@dataclass(frozen=True)
class Template:
    """A template as created (the validated request body) plus what the platform adds."""

    template_id: str
    body: dict[str, Any]
    created_time: int
    status: int = APPROVED
    audit_remark: str = ""

    @property
    def strategy(self) -> list[str]:
        return str(self.body["send_channel_strategy"]).split("|")

    @property
    def code_config(self) -> dict[str, int] | None:
        config = self.body.get("verify_code_config")
        return dict(config) if isinstance(config, dict) else None

    @property
    def ttl_minutes(self) -> int | None:
        config = self.code_config
        return int(config["verify_code_ttl"]) if config else None


@dataclass(frozen=True)
class Event:
    """One stage of a message's life, as the callbacks report it: when it happened on the
    tenant's virtual clock (`at`) and on the real one (`real_at`, when it was recorded). A step
    of a fallback names its channel in `detail`; a failed one carries its `error_code`."""

    status: str
    at: float
    detail: str = ""
    real_at: float = 0.0
    error_code: int = 0


@dataclass(frozen=True)
class Message:
    """A message the mock "sent", with its code, text and lifecycle."""

    message_id: str
    tenant: str
    kind: str
    operation: str
    to: str
    template_id: str
    language: str
    channel: str
    text: str
    created_at: float
    code: str | None = None
    subject: str | None = None
    expires_at: float | None = None
    max_attempts: int = 5
    attempts: int = 0
    verified_at: float | None = None
    lifecycle: tuple[Event, ...] = field(default_factory=tuple)
    params: dict[str, str] = field(default_factory=dict)
    never_verifies: bool = False  # a magic test recipient: every code is wrong
    deliver_at: float | None = None  # virtual time of a delivery still to come (delivery_delay_seconds)

    @property
    def verified(self) -> bool:
        return self.verified_at is not None

    @property
    def exhausted(self) -> bool:
        return self.attempts >= self.max_attempts

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    @property
    def undelivered(self) -> bool:
        """Its delivery failed for good (target_invalid, sent_failed, or every channel's
        delivered_failed): the code reached nobody, so it neither verifies nor times out."""
        return bool(self.lifecycle) and self.lifecycle[-1].status in FAILED

    def active(self, now: float) -> bool:
        """Still verifiable: delivered, unverified, attempts left and not expired (what 3004 guards)."""
        return not self.verified and not self.exhausted and not self.expired(now) and not self.undelivered

    def status_at(self, now: float) -> str:
        """The latest lifecycle status, counting an expiry that nobody has observed yet."""
        if self.code is not None and not self.verified and self.expired(now) and not self.undelivered:
            return "verified_timeout"
        return self.lifecycle[-1].status if self.lifecycle else "plan"

    def events_at(self, now: float) -> tuple[Event, ...]:
        """The lifecycle, with `verified_timeout` added once the code has expired unverified."""
        last = self.lifecycle[-1].status if self.lifecycle else ""
        if self.status_at(now) == "verified_timeout" and last != "verified_timeout":
            assert self.expires_at is not None
            return (*self.lifecycle, Event("verified_timeout", self.expires_at))
        return self.lifecycle

    @property
    def size(self) -> int:
        """The bytes a message holds beyond its fixed fields (text, subject, params), as the
        per-key budget (`max_key_bytes`) and each message's bound (`max_message_bytes`) count them."""
        return stored_bytes(self.text, self.subject, self.params.items())

    def next_due(self) -> float | None:
        """The virtual time of the next step that comes with time alone (a delayed delivery, or
        the timeout of a code nobody verified), or None when none is left."""
        if self.deliver_at is not None:
            return self.deliver_at
        last = self.lifecycle[-1].status if self.lifecycle else ""
        if self.code is None or self.expires_at is None or self.verified or last == "verified_timeout" \
                or last in FAILED:
            return None
        return self.expires_at


def stored_bytes(text: str, subject: str | None, params: Iterable[tuple[str, str]]) -> int:
    return (len(text.encode("utf-8")) + len((subject or "").encode("utf-8"))
            + sum(len(k.encode("utf-8")) + len(v.encode("utf-8")) for k, v in params))
