"""The session's requests as the judges read them: the journal's `request` records of the event
stream, with what the session server saw on the wire (how long each exchange took, whether the
client had gone before the reply).

The session server tags each request it serves with the header `x-certify-exchange:
SESSION/N` before the mock sees it, so the journal's record and the server's observation meet,
and a record belongs to the session when it bears the session's tag (unauthenticated requests
have no dev_key) or its dev_key.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from mockserver.events import StreamEvent

TAG_HEADER = "x-certify-exchange"
_FAULT = re.compile(r"^fault: ([a-z_]+)")
_CUT = re.compile(r"\.\.\. \(\d+ characters\)$")
MISSING: Any = object()


@dataclass(frozen=True)
class Observation:
    """One exchange as the session server saw it: when it began (epoch seconds), how long until
    the reply went out or the client left, and whether the client had left first."""

    started: float
    elapsed: float
    client_gone: bool

    def as_json(self) -> dict[str, Any]:
        return {"started": self.started, "elapsed_seconds": round(self.elapsed, 3), "client_gone": self.client_gone}


@dataclass(frozen=True)
class Record:
    """One API request of the session and its reply."""

    id: int
    at: float
    virtual_at: float | None
    dev_key: str | None
    method: str
    path: str
    query: str
    operation: str | None
    status: int
    code: int | None
    duration_ms: float
    headers: dict[str, str]
    body: str | None
    reply: str | None
    note: str | None
    seen: Observation | None = None

    @classmethod
    def of(cls, event: StreamEvent, seen: Observation | None = None) -> Record:
        data = event.data
        return cls(event.seq, event.at, event.virtual_at, event.tenant, data["method"], data["path"],
                   data.get("query") or "", data.get("operation"), data["status"], data.get("code"),
                   float(data.get("duration_ms") or 0.0), dict(data.get("headers") or {}), data.get("body"),
                   data.get("reply"), data.get("note"), seen)

    @property
    def fault(self) -> str | None:
        """The transport fault the mock served instead of a reply, if any."""
        found = _FAULT.match(self.note or "")
        return found.group(1) if found else None

    @property
    def started(self) -> float:
        return self.seen.started if self.seen is not None else self.at

    @property
    def ended(self) -> float:
        """When the exchange was over for the client: the reply sent, or the client gone."""
        if self.seen is not None:
            return self.seen.started + self.seen.elapsed
        return self.at + self.duration_ms / 1000

    @property
    def truncated(self) -> bool:
        """The journal kept only the start of the body (journal_body_limit)."""
        return self.body is not None and _CUT.search(self.body) is not None

    def body_json(self) -> Any:
        return _json(self.body)

    def reply_json(self) -> Any:
        return _json(self.reply)

    def identity(self) -> tuple[str, str, str]:
        """What makes two requests the same request (a retry): method, path and body, the body
        compared as JSON when it is JSON (key order and spacing do not matter)."""
        value = self.body_json()
        if value is MISSING:
            return self.method, self.path, self.body or ""
        return self.method, self.path, orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()

    def recipients(self) -> list[str]:
        """The `to` of a send (one recipient, or each of a list)."""
        value = self.body_json()
        to = value.get("to") if isinstance(value, dict) else None
        items = to if isinstance(to, list) else [to]
        return [r for r in items if isinstance(r, str)]

    def field(self, name: str) -> Any:
        value = self.body_json()
        return value.get(name) if isinstance(value, dict) else None

    def as_json(self) -> dict[str, Any]:
        """The record as the evidence shows it (before masking)."""
        out: dict[str, Any] = {
            "id": self.id, "at": self.at, "virtual_at": self.virtual_at, "dev_key": self.dev_key,
            "method": self.method, "path": self.path, "query": self.query, "operation": self.operation,
            "status": self.status, "code": self.code, "duration_ms": self.duration_ms, "headers": self.headers,
            "body": self.body, "reply": self.reply, "fault": self.fault,
            "exchange": self.seen.as_json() if self.seen is not None else None,
        }
        return out


def _json(text: str | None) -> Any:
    if text is None or _CUT.search(text):
        return MISSING
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return MISSING


def session_records(events: Iterable[StreamEvent], session_id: str, dev_key: str,
                    seen: Mapping[str, Observation] | None = None) -> list[Record]:
    """The request records of one session, oldest first, each with its observation."""
    seen = seen or {}
    prefix = session_id + "/"
    found = []
    for event in events:
        if event.type != "request":
            continue
        tag = (event.data.get("headers") or {}).get(TAG_HEADER, "")
        if not (isinstance(tag, str) and tag.startswith(prefix)) and event.tenant != dev_key:
            continue
        found.append(Record.of(event, seen.get(tag) if isinstance(tag, str) else None))
    return sorted(found, key=lambda r: r.id)


def dig(value: Any, dotted: str) -> Any:
    """A dotted path of a JSON value (`template.id`), or MISSING."""
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return MISSING
        value = value[key]
    return value
