"""Templates and messages to plain JSON-able dicts and back, for durable stores."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mockserver.otp.model import Event, Message, Template


def message_to_dict(message: Message) -> dict[str, Any]:
    data = asdict(message)
    data["lifecycle"] = [[e.status, e.at, e.detail] for e in message.lifecycle]
    return data


def message_from_dict(data: dict[str, Any]) -> Message:
    fields = dict(data)
    fields["lifecycle"] = tuple(Event(status, at, detail) for status, at, detail in data.get("lifecycle", ()))
    fields["params"] = dict(data.get("params") or {})
    return Message(**fields)


def template_to_dict(template: Template) -> dict[str, Any]:
    return asdict(template)


def template_from_dict(data: dict[str, Any]) -> Template:
    return Template(**data)
