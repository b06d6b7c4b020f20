"""Templates and messages to plain JSON-able dicts and back, for durable stores.

Written out field by field: `dataclasses.asdict` deep-copies every value and cost a third of
a send on the SQLite store (measured with cProfile).
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from mockserver.otp.model import Event, Message, Template

_MESSAGE_FIELDS = tuple(f.name for f in fields(Message) if f.name not in ("lifecycle", "params"))


def message_to_dict(message: Message) -> dict[str, Any]:
    data = {name: getattr(message, name) for name in _MESSAGE_FIELDS}
    data["lifecycle"] = [[e.status, e.at, e.detail] for e in message.lifecycle]
    data["params"] = dict(message.params)
    return data


def message_from_dict(data: dict[str, Any]) -> Message:
    fields = dict(data)
    fields["lifecycle"] = tuple(Event(status, at, detail) for status, at, detail in data.get("lifecycle", ()))
    fields["params"] = dict(data.get("params") or {})
    return Message(**fields)


def template_to_dict(template: Template) -> dict[str, Any]:
    return {"template_id": template.template_id, "body": template.body, "created_time": template.created_time,
            "status": template.status, "audit_remark": template.audit_remark}


def template_from_dict(data: dict[str, Any]) -> Template:
    return Template(**data)
