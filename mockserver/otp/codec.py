"""Templates and messages to JSON text and back, for the durable stores (SQLite, Redis).

Written out field by field: `dataclasses.asdict` deep-copies every value and cost a third of
a send on the SQLite store (measured with cProfile); the text comes from orjson, a tenth of the
json module's time for a message.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import orjson

from mockserver.otp.model import Event, Message, Template

_MESSAGE_FIELDS = tuple(f.name for f in fields(Message) if f.name not in ("lifecycle", "params"))


def _message_to_dict(message: Message) -> dict[str, Any]:
    data = {name: getattr(message, name) for name in _MESSAGE_FIELDS}
    data["lifecycle"] = [[e.status, e.at, e.detail, e.real_at, *((e.error_code,) if e.error_code else ())]
                         for e in message.lifecycle]
    data["params"] = dict(message.params)
    return data


def _message_from_dict(data: dict[str, Any]) -> Message:
    fields = dict(data)
    fields["lifecycle"] = tuple(Event(*step) for step in data.get("lifecycle", ()))  # 3 (old), 4 or 5 values
    fields["params"] = dict(data.get("params") or {})
    return Message(**fields)


def _template_to_dict(template: Template) -> dict[str, Any]:
    return {"template_id": template.template_id, "body": template.body, "created_time": template.created_time,
            "status": template.status, "audit_remark": template.audit_remark}


def _template_from_dict(data: dict[str, Any]) -> Template:
    return Template(**data)


def to_json(value: Any) -> str:
    """JSON text of any record the stores keep (progress, journal entries)."""
    return orjson.dumps(value).decode()


def from_json(raw: str | bytes) -> Any:
    return orjson.loads(raw)


def message_to_json(message: Message) -> str:
    return to_json(_message_to_dict(message))


def message_from_json(raw: str | bytes) -> Message:
    return _message_from_dict(orjson.loads(raw))


def template_to_json(template: Template) -> str:
    return to_json(_template_to_dict(template))


def template_from_json(raw: str | bytes) -> Template:
    return _template_from_dict(orjson.loads(raw))
