"""JSON views of the mock's own records, for the control plane and the inbox."""

from __future__ import annotations

import datetime as dt
from typing import Any

from mockserver.journal import Entry
from mockserver.otp.model import Message


def iso(stamp: float | None) -> str | None:
    """An ISO-8601 UTC time with milliseconds, or None."""
    if stamp is None:
        return None
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def message_view(message: Message, now: float) -> dict[str, Any]:
    """Everything a tester wants to see of a sent message, including its code."""
    return {
        "message_id": message.message_id,
        "dev_key": message.tenant,
        "operation": message.operation,
        "to": message.to,
        "template_id": message.template_id,
        "language": message.language,
        "channel": message.channel,
        "code": message.code,
        "text": message.text,
        "subject": message.subject,
        "status": message.status_at(now),
        "verified": message.verified,
        "attempts": message.attempts,
        "max_attempts": message.max_attempts,
        "created_at": iso(message.created_at),
        "expires_at": iso(message.expires_at),
        "verified_at": iso(message.verified_at),
        "lifecycle": [
            {"status": e.status, "at": iso(e.at), **({"detail": e.detail} if e.detail else {})}
            for e in message.events_at(now)
        ],
    }


def entry_view(entry: Entry) -> dict[str, Any]:
    out = entry.as_dict()
    out["at"] = iso(entry.at)
    return out
