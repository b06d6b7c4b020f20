"""The journal: every served request as a record of the event stream, rich enough to judge a
client by (certification, the console, the testing helpers). Never holds a secret.

A record keeps the method, path and query, the request's headers (credentials, cookies,
tokens and any header whose name says key, auth, signature or session masked) and body, the
status, the reply's body, the operation and dev_key, real and virtual time, the duration and
any contract violation. Bodies are cut at `body_limit` characters; the mock's own codes stay
in them (they are test data). JSON fields that name a secret (`secret`, `password`, `token`,
`authorization`) are masked in bodies too.

API requests are `request` records, every one of them (404 and 405 answers too); control-plane
calls that change state are `control` records. Each is appended before its reply leaves, so
the stream's order is the order in which the mock answered, across every worker.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import parse_qsl, urlencode

import orjson

from mockserver.events import StreamEvent
from mockserver.store.base import Store
from mockserver.textsafe import masked_authorization, shown

log = logging.getLogger("mockserver")
MASK = "***"
_SECRET_HEADER = re.compile(r"auth|cookie|token|secret|password|key|signature|credential|session", re.IGNORECASE)
_SECRET_FIELD = re.compile(r"secret|password|token|authorization", re.IGNORECASE)
# in text that is not JSON: a secret-named key, then `:` or `=`, then its value (quoted, or to the
# end of the line, a comma, & or ;): `"secret": "x"`, `secret=x`, `Authorization: Bearer x`
_SECRET_PAIR = re.compile(r"""((?:secret|password|token|authorization)[^"'\s:=]*["']?\s*[:=]\s*)"""
                          r"""("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\n,&;}\]]+)""", re.IGNORECASE)
PLANES = {"api": "request", "control": "control"}  # the journal's planes and their record types


@dataclass(frozen=True)
class Entry:
    """One request of the journal, as `/_mock/requests` shows it."""

    id: int
    at: float
    method: str
    path: str
    operation: str | None
    dev_key: str | None
    status: int
    code: int | None
    duration_ms: float
    body: str | None = None
    violations: tuple[str, ...] = field(default_factory=tuple)
    note: str | None = None
    virtual_at: float | None = None
    query: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    reply: str | None = None
    plane: str = "api"

    def as_dict(self) -> dict[str, Any]:
        out = {name: getattr(self, name) for name in _ENTRY_FIELDS}  # asdict deep-copies: slow
        out["violations"] = list(self.violations)
        return out

    @classmethod
    def from_event(cls, event: StreamEvent) -> Entry:
        data = event.data
        return cls(id=event.seq, at=event.at, virtual_at=event.virtual_at, dev_key=event.tenant,
                   method=data["method"], path=data["path"], operation=data.get("operation"),
                   status=data["status"], code=data.get("code"), duration_ms=data["duration_ms"],
                   body=data.get("body"), violations=tuple(data.get("violations") or ()), note=data.get("note"),
                   query=data.get("query", ""), headers=dict(data.get("headers") or {}), reply=data.get("reply"),
                   plane="control" if event.type == "control" else "api")


_ENTRY_FIELDS = tuple(f.name for f in fields(Entry))


@dataclass(frozen=True)
class Exchange:
    """One request and what the mock did with it, as the journal receives it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes
    status: int
    reply_body: Any
    reply_data: bytes
    at: float
    virtual_at: float | None
    duration_ms: float
    plane: str = "api"
    tenant: str | None = None
    operation: str | None = None
    violations: tuple[str, ...] = ()
    note: str | None = None


class Journal:
    """Writes exchanges to the stream and reads them back as entries."""

    def __init__(self, store: Store, body_limit: int = 4096) -> None:
        self.store = store
        self.body_limit = body_limit

    def record(self, exchange: Exchange) -> None:
        """Append the exchange; the journal is best effort: a store that fails is logged."""
        try:
            self.store.append_events([self.event(exchange)])
        except self.store.unavailable as exc:  # said once per request, without a traceback
            log.warning("journal record of %s %s not written: store unavailable: %s", shown(exchange.method, 16),
                        shown(exchange.path, 200), shown(str(exc), 200))
        except Exception:  # noqa: BLE001 - serving goes on
            log.exception("could not write the journal record of %s %s", shown(exchange.method, 16),
                          shown(exchange.path, 200))

    def event(self, exchange: Exchange) -> StreamEvent:
        body = exchange.reply_body
        code = body.get("code") if isinstance(body, dict) and exchange.status != 200 else None
        data = {
            "method": exchange.method, "path": exchange.path, "query": mask_query(exchange.query),
            "operation": exchange.operation, "status": exchange.status,
            "code": code if isinstance(code, int) else None, "duration_ms": exchange.duration_ms,
            "headers": mask_headers(exchange.headers),
            "body": self._text(exchange.body), "reply": self._text(exchange.reply_data),
            "violations": list(exchange.violations), "note": exchange.note,
        }
        return StreamEvent(PLANES[exchange.plane], exchange.tenant, exchange.at, exchange.virtual_at, data)

    def recent(self, limit: int = 100, dev_key: str | None = None, plane: str = "api") -> list[Entry]:
        types = tuple(PLANES.values()) if plane == "all" else (PLANES[plane],)
        return [Entry.from_event(e) for e in self.store.recent_events(dev_key, types, limit)]

    def _text(self, raw: bytes) -> str | None:
        if not raw:
            return None
        text = mask_body(raw.decode("utf-8", "replace"))
        if len(text) > self.body_limit:
            return text[: self.body_limit] + f"... ({len(text)} characters)"
        return text


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with every credential, cookie and token replaced; the scheme of an
    Authorization header stays when it is a known one (`Basic ***`), else all is masked."""
    out = {}
    for name, value in headers.items():
        if _is_secret_header(name):
            value = masked_authorization(value, MASK)
        out[name] = value
    return out


@functools.lru_cache(maxsize=1024)
def _is_secret_header(name: str) -> bool:
    return _SECRET_HEADER.search(name) is not None


def mask_query(query: str) -> str:
    """A query string with the values of secret-named parameters (`?token=` of a console link)
    masked."""
    if not query or not _SECRET_FIELD.search(query):
        return query
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(k, MASK if _SECRET_FIELD.search(k) else v) for k, v in pairs], safe="*")


def mask_body(text: str) -> str:
    """A body with the values of secret-named fields masked: in JSON by its fields (a name
    spelled with \\u escapes too), in other text (JSON with a typo, a form) each `name: value`
    or `name=value` whose name says secret, password, token or authorization."""
    if not _SECRET_FIELD.search(text) and "\\u" not in text:
        return text
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _SECRET_PAIR.sub(lambda found: f'{found.group(1)}"{MASK}"', text)
    return orjson.dumps(_masked(value)).decode()


def _masked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: MASK if _SECRET_FIELD.search(str(k)) and v is not None else _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value
