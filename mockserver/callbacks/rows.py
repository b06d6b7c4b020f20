"""The rows of EngageLab's callback envelope (`{"total": n, "rows": [...]}`), built from the event
stream's records, and the synthetic rows of `POST /_mock/callbacks/trigger`. Pure.

A `message` record becomes one message-status row per lifecycle step it added; a `template`
record of an approval or a rejection becomes a `template_audit_result` notification. Times:
`itime` and `msg_time` are the dev_key's virtual time (equal to real time until its clock is
moved); the signature's timestamp is real time (see signing.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from mockserver.events import StreamEvent
from mockserver.otp.model import CHANNELS

# the kinds of rows, each posted in an envelope of its own, and the contract schema of that envelope
KINDS = {"message_status": "MessageStatusCallback", "notification": "NotificationCallback",
         "message_response": "UplinkCallback", "system_event": "SystemEventCallback"}
STATUSES = ("plan", "target_valid", "target_invalid", "sent", "sent_failed", "delivered", "delivered_failed",
            "verified", "verified_failed", "verified_timeout")
NOTIFICATIONS = ("insufficient_verification_rate", "insufficient_balance", "template_audit_result")
SYSTEM_EVENTS = ("account_login", "key_manage", "msg_history", "template_manage", "api_call")
EVENT_KIND = {**dict.fromkeys(STATUSES, "message_status"), **dict.fromkeys(NOTIFICATIONS, "notification"),
              "uplink_message": "message_response", **dict.fromkeys(SYSTEM_EVENTS, "system_event")}
# What a `sent` costs in the billing object (USD): illustrative, EngageLab's prices vary by country.
COSTS = {"sms": 0.0055, "whatsapp": 0.0045, "voice": 0.012, "email": 0.0004}
SERVER = "otp"


@dataclass(frozen=True)
class Row:
    """One row of an envelope: its kind and event, the message it is about (if any), the dev_key."""

    kind: str
    event: str
    tenant: str | None
    message_id: str | None
    body: dict[str, Any]


def rows_of(record: StreamEvent, errors: Mapping[int, str]) -> list[Row]:
    """The rows of one stream record (none for requests and control calls); `errors` gives the
    error_detail message of an error code."""
    if record.type == "message":
        data = record.data
        steps = data.get("steps") or []
        channels = step_channels(steps, data["channel"])
        return [Row("message_status", s["status"], record.tenant, data["message_id"],
                    status_row(data, s, channel, errors)) for s, channel in zip(steps, channels, strict=True)]
    if record.type == "template" and record.data.get("status") in (2, 3):
        data = record.data
        notification = {"event": "template_audit_result", "notification_data": {
            "template_id": data["template_id"], "status": data["status"], "audit_remark": data.get("audit_remark", "")}}
        at = record.virtual_at if record.virtual_at is not None else record.at
        return [Row("notification", "template_audit_result", record.tenant, None,
                    {"server": SERVER, "itime": int(at), "notification": notification})]
    return []


def step_channels(steps: list[dict[str, Any]], final: str) -> list[str]:
    """The channel of each step: the one a step of a fallback names, else the next one named
    (plan and target_valid belong to the first channel tried), else the message's channel (the
    one that delivered, for the steps after the fallback)."""
    out: list[str] = []
    ahead = final
    for step in reversed(steps):
        detail = step.get("detail", "")
        if detail in CHANNELS:
            ahead = detail
        out.append(ahead)
    out.reverse()
    return out


def status_row(message: Mapping[str, Any], step: Mapping[str, Any], channel: str,
               errors: Mapping[int, str]) -> dict[str, Any]:
    """A message-status row, as in EngageLab's callback page."""
    status: dict[str, Any] = {
        "message_status": step["status"],
        "status_data": {"msg_time": int(message["created_at"]), "message_id": message["message_id"],
                        "current_send_channel": channel, "template_key": message["template_id"]},
        "error_code": int(step.get("error_code") or 0),
    }
    if step["status"] == "sent":
        status["billing"] = {"cost": COSTS.get(channel, 0.005), "currency": "USD"}
    if status["error_code"]:
        status["error_detail"] = {"message": errors.get(status["error_code"], "delivery failed")}
    return {"message_id": message["message_id"], "to": message["to"], "server": SERVER, "channel": channel,
            "itime": int(step["at"]), "status": status}


def envelope(rows: Iterable[Row]) -> dict[str, Any]:
    bodies = [row.body for row in rows]
    return {"total": len(bodies), "rows": bodies}
