"""What the control plane shows of the mock's records: typed views and their JSON."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mockserver.events import StreamEvent
from mockserver.journal import Entry
from mockserver.otp.model import Message


def iso(stamp: float | None) -> str | None:
    """An ISO-8601 UTC time with milliseconds, or None."""
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True)
class Step:
    """One step of a message's lifecycle, on the virtual clock (`at`) and the real one."""

    status: str
    at: float
    detail: str = ""
    real_at: float | None = None
    error_code: int = 0

    def as_json(self) -> dict[str, Any]:
        return {"status": self.status, "at": iso(self.at), **({"detail": self.detail} if self.detail else {}),
                **({"error_code": self.error_code} if self.error_code else {})}


@dataclass(frozen=True)
class SentMessage:
    """A message the mock "sent", as a tester sees it at a moment: its code, text, status and
    lifecycle (counting an expiry nobody has observed yet)."""

    message_id: str
    dev_key: str
    operation: str
    to: str
    template_id: str
    language: str
    channel: str
    code: str | None
    text: str
    subject: str | None
    status: str
    verified: bool
    attempts: int
    max_attempts: int
    created_at: float
    expires_at: float | None
    verified_at: float | None
    lifecycle: tuple[Step, ...]

    @classmethod
    def of(cls, message: Message, now: float) -> SentMessage:
        steps = tuple(Step(e.status, e.at, e.detail, e.real_at or None, e.error_code) for e in message.events_at(now))
        return cls(message.message_id, message.tenant, message.operation, message.to, message.template_id,
                   message.language, message.channel, message.code, message.text, message.subject,
                   message.status_at(now), message.verified, message.attempts, message.max_attempts,
                   message.created_at, message.expires_at, message.verified_at, steps)

    def as_json(self) -> dict[str, Any]:
        """Everything a tester wants to see of a sent message, including its code."""
        return {
            "message_id": self.message_id, "dev_key": self.dev_key, "operation": self.operation,
            "to": self.to, "template_id": self.template_id, "language": self.language,
            "channel": self.channel, "code": self.code, "text": self.text, "subject": self.subject,
            "status": self.status, "verified": self.verified, "attempts": self.attempts,
            "max_attempts": self.max_attempts, "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at), "verified_at": iso(self.verified_at),
            "lifecycle": [step.as_json() for step in self.lifecycle],
        }


def message_view(message: Message, now: float) -> dict[str, Any]:
    return SentMessage.of(message, now).as_json()


def entry_view(entry: Entry) -> dict[str, Any]:
    out = entry.as_dict()
    out["at"] = iso(entry.at)
    out["virtual_at"] = iso(entry.virtual_at)
    return out


def event_view(event: StreamEvent) -> dict[str, Any]:
    """A stream record as `/_mock/events` shows it; times inside `data` stay epoch seconds."""
    return {"id": event.seq, "type": event.type, "dev_key": event.tenant, "at": iso(event.at),
            "virtual_at": iso(event.virtual_at), "data": event.data}
