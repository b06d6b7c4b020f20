"""Rows made up on request (`POST /_mock/callbacks/trigger`): any row type of the contract, for
a real message or a synthetic one, so a receiver can be tested on events that rarely happen
(uplink replies, low balance, logins). Pure.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from mockserver.callbacks.rows import EVENT_KIND, SERVER, Row, status_row
from mockserver.errors import ControlError
from mockserver.otp.service import DELIVERY_ERRORS

SYNTHETIC_TO = "+6591234567"


def trigger_row(event: str, tenant: str, message: Mapping[str, Any] | None, new_id: Callable[[], str],
                errors: Mapping[int, str], override: Mapping[str, Any] | None = None) -> Row:
    """The row of `event`: for `message` (its id, recipient, channel, template) or a synthetic
    one; `override` replaces top-level fields of the row (the caller checks the result against
    the contract)."""
    kind = EVENT_KIND.get(event)
    if kind is None:
        raise ControlError(400, f"event: unknown event {event[:40]!r}; known: {', '.join(EVENT_KIND)}")
    now = int(time.time())
    if kind == "message_status":
        body = _status(event, message, new_id, now, errors)
        message_id: str | None = body["message_id"]
    else:
        message_id = None
        body = {"server": SERVER, "itime": now, **_BUILDERS[kind](event, tenant, message)}
    if override:
        body = {**body, **override}
        if kind == "message_status":  # the log names the message the row speaks of
            message_id = body.get("message_id")
    return Row(kind, event, tenant, message_id if isinstance(message_id, str) else None, body)


def _status(event: str, message: Mapping[str, Any] | None, new_id: Callable[[], str], now: int,
            errors: Mapping[int, str]) -> dict[str, Any]:
    found: dict[str, Any] = dict(message) if message is not None else {
        "message_id": new_id(), "to": SYNTHETIC_TO, "channel": "sms", "template_id": "test-template-1",
        "created_at": now}
    step = {"status": event, "at": now, "error_code": DELIVERY_ERRORS.get(event, 0)}
    return status_row(found, step, found["channel"], errors)


def _notification(event: str, tenant: str, message: Mapping[str, Any] | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "insufficient_balance": {"business_id": "1744569418236633088", "remain_balance": -0.5,
                                 "balance_threshold": 10},
        "insufficient_verification_rate": {"business_id": "1744569418236633088", "rate": 0.42, "threshold": 0.6},
        "template_audit_result": {"template_id": (message or {}).get("template_id", "test-template-1"),
                                  "status": 2, "audit_remark": ""},
    }[event]
    return {"notification": {"event": event, "notification_data": data}}


def _response(event: str, tenant: str, message: Mapping[str, Any] | None) -> dict[str, Any]:
    sender = (message or {}).get("to", SYNTHETIC_TO)
    return {"message_id": "0", "business_id": "0", "response": {"event": event, "response_data": {
        "message_sid": "SM0000000000000000000000000000000", "account_sid": "AC0000000000000000000000000000000",
        "from": sender, "to": "+6512345678", "body": "STOP"}}}


def _system(event: str, tenant: str, message: Mapping[str, Any] | None) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "account_login": {"action": "login_success"},
        "key_manage": {"action": "create", "api_key": tenant, "description": "made by otp-mock trigger"},
        "msg_history": {"action": "query"},
        "template_manage": {"action": "update", "template_id": (message or {}).get("template_id", "test-template-1"),
                            "template_name": "test template"},
        "api_call": {"api_path": "/v1/messages", "method": "POST"},
    }[event]
    return {"system_event": {"event": event, "data": {
        "business_id": "1744569418236633088", "org_id": "100200",
        "operator": {"email": "admin@example.com", "api_key": tenant, "ip_address": "127.0.0.1"}, event: detail}}}


_BUILDERS = {"notification": _notification, "message_response": _response, "system_event": _system}
