"""A callback configuration, as EngageLab's console takes it: the URL, an optional username
with its secret (they make the X-CALLBACK-ID signature), an optional Authorization value sent
verbatim, the events subscribed to, a description. Pure.

    >>> config = parse_config({"url": "http://127.0.0.1:3000/hook", "username": "otp", "secret": "s"}, "loopback")
    >>> config.view()["secret"], config.wants("message_status", "delivered")
    ('***', True)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import orjson

from mockserver.callbacks import targets
from mockserver.callbacks.rows import EVENT_KIND, KINDS
from mockserver.errors import ControlError
from mockserver.textsafe import masked_authorization

MASK = "***"
FIELDS = ("url", "username", "secret", "authorization", "events", "description")
MAX_USERNAME, MAX_SECRET, MAX_AUTHORIZATION, MAX_DESCRIPTION = 128, 256, 4096, 255


@dataclass(frozen=True)
class CallbackConfig:
    """Where one dev_key's callbacks (or everyone's) go. `events` None means every event;
    `since` is the stream record it starts after (records older than the configuration are not
    sent); `probe` is the result of the URL check made when it was saved."""

    url: str
    username: str = ""
    secret: str = ""
    authorization: str = ""
    events: tuple[str, ...] | None = None
    description: str = ""
    since: int = 0
    source: str = "control plane"
    probe: dict[str, Any] | None = field(default=None, compare=False)

    @property
    def signed(self) -> bool:
        return bool(self.username and self.secret)

    def wants(self, kind: str, event: str) -> bool:
        """Whether a row of this kind and event is subscribed to (a kind's name takes all of it)."""
        return self.events is None or kind in self.events or event in self.events

    def view(self) -> dict[str, Any]:
        """What the control plane shows: never the secret, nor the Authorization's credentials."""
        return {"url": self.url, "username": self.username or None, "secret": MASK if self.secret else None,
                "authorization": masked_authorization(self.authorization, MASK) if self.authorization else None,
                "events": list(self.events) if self.events is not None else None,
                "description": self.description, "signed": self.signed, "source": self.source,
                "probe": self.probe}

    def to_json(self) -> str:
        return orjson.dumps({"url": self.url, "username": self.username, "secret": self.secret,
                             "authorization": self.authorization, "events": self.events,
                             "description": self.description, "since": self.since, "source": self.source,
                             "probe": self.probe}).decode()

    @classmethod
    def from_json(cls, raw: str) -> CallbackConfig:
        data = orjson.loads(raw)
        events = data.get("events")
        return cls(data["url"], data.get("username", ""), data.get("secret", ""), data.get("authorization", ""),
                   None if events is None else tuple(events), data.get("description", ""), int(data.get("since", 0)),
                   data.get("source", "control plane"), data.get("probe"))

    def with_probe(self, probe: dict[str, Any]) -> CallbackConfig:
        return replace(self, probe=probe)


def parse_config(body: Mapping[str, Any], policy: str, source: str = "control plane",
                 refused_ports: tuple[int, ...] = ()) -> CallbackConfig:
    """A configuration from a PUT body or a settings entry; ControlError 400 naming what is wrong."""
    unknown = sorted(set(body) - {*FIELDS, "dev_key", "probe"})
    if unknown:
        raise ControlError(400, f"unknown field {unknown[0]!r}; a callback has {', '.join(FIELDS)} "
                                "(and dev_key, probe)")
    url = body.get("url")
    try:
        targets.check(url, policy, refused_ports)  # type: ignore[arg-type]
    except targets.TargetRefused as exc:
        raise ControlError(400, f"url: {exc}") from None
    username = _text(body, "username", MAX_USERNAME, forbidden=";")
    secret = _text(body, "secret", MAX_SECRET)
    if username and not secret:
        raise ControlError(400, "secret: required with a username (EngageLab signs with both)")
    if secret and not username:
        raise ControlError(400, "username: required with a secret (the signature covers the username)")
    return CallbackConfig(str(url), username, secret, _text(body, "authorization", MAX_AUTHORIZATION),
                          _events(body.get("events")), _text(body, "description", MAX_DESCRIPTION, printable=False),
                          source=source)


def _text(body: Mapping[str, Any], name: str, most: int, forbidden: str = "", printable: bool = True) -> str:
    value = body.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > most:
        raise ControlError(400, f"{name}: expected a string of at most {most} characters")
    if printable and not (value.isascii() and value.isprintable()):
        raise ControlError(400, f"{name}: expected printable ASCII (it goes into an HTTP header)")
    if not printable and not value.isprintable():
        raise ControlError(400, f"{name}: expected printable text (no control characters)")
    if any(c in value for c in forbidden):
        raise ControlError(400, f"{name}: may not contain {forbidden!r} (it separates the header's fields)")
    return value


def _events(value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or len(value) > len(EVENT_KIND) + len(KINDS):
        raise ControlError(400, "events: expected a list of event names (every event when absent)")
    for name in value:
        if not isinstance(name, str) or (name not in EVENT_KIND and name not in KINDS):
            known = ", ".join([*KINDS, *EVENT_KIND])
            raise ControlError(400, f"events: unknown event {str(name)[:40]!r}; known: {known}")
    return tuple(dict.fromkeys(value))
