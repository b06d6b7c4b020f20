"""A served mock in another process, reached over HTTP: the session's shared `otp-mock serve`
under pytest-xdist, or one given with `--otp-mock-url`. The helpers of its keys read and steer
it through the control plane with the key's own Basic credentials, which the control plane
scopes to that key's state (`mockserver/access.py`), so they can touch no other test's."""

from __future__ import annotations

import base64
import datetime as dt
import itertools
import json
import os
import re
import secrets
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any

from mockserver.control import ClockView
from mockserver.errors import ControlError, MockError
from mockserver.pipeline import TRANSPORT_FAULTS
from mockserver.testing import _wire
from mockserver.testing._harness import Call
from mockserver.views import SentMessage, Step

if TYPE_CHECKING:
    from mockserver.testing._served import ServedKey

TIMEOUT = 10.0  # seconds for one control-plane call
_FAULT_NOTE = re.compile(r"fault: ([a-z_]+)")  # how the journal notes a deliberate fault
_keys = itertools.count(1)
_direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback never goes through a proxy


class RemoteError(MockError, RuntimeError):
    """The served mock in another process did not answer its control plane."""


class NotInProcess(MockError, AttributeError):
    """What exists only for a mock of this process (`mock`, `harness`, `fail_next`, `set`)
    was asked of a served mock in another process."""


class RemoteMock:
    """A served mock at `base_url` in another process; `new_key()` gives a test a dev_key of
    its own there. It has no `harness` nor `mock`: they live in the serving process."""

    def __init__(self, base_url: str) -> None:
        parts = urllib.parse.urlsplit(base_url.rstrip("/"))
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"--otp-mock-url: expected http://HOST:PORT of a running otp-mock serve, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        if self.host in ("127.0.0.1", "::1", "localhost"):
            _wire.LIVE_PORTS.add(self.port)  # otp_no_network lets the tests reach it

    def new_key(self, prefix: str = "test") -> ServedKey:
        """A fresh dev_key (unique across processes: a random part), scoped helpers included."""
        from mockserver.testing._served import ServedKey

        worker = os.environ.get("PYTEST_XDIST_WORKER") or f"p{os.getpid()}"
        return ServedKey(self, f"{prefix}-{worker}-{next(_keys)}-{secrets.token_hex(3)}", secrets.token_hex(8))

    def check(self) -> None:
        """RemoteError unless the mock answers its health check."""
        RemoteControl(self.base_url, None).call("GET", "/_mock/health")

    def stop(self) -> None:
        """Nothing to stop here: the process that serves it owns it."""

    def __repr__(self) -> str:
        return f"RemoteMock(base_url={self.base_url!r})"


class RemoteControl:
    """The control plane of a served mock over HTTP, as the helpers call the ControlPlane
    (`_helpers.Control`), with one key's Basic credentials (None: anonymous)."""

    def __init__(self, base_url: str, auth: tuple[str, str] | None) -> None:
        self.base_url = base_url
        self._authorization = None if auth is None else "Basic " + base64.b64encode(
            f"{auth[0]}:{auth[1]}".encode()).decode("ascii")

    def call(self, method: str, path: str, query: dict[str, Any] | None = None, body: Any = None) -> Any:
        shown = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base_url + path + (f"?{urllib.parse.urlencode(shown)}" if shown else "")
        headers = {"Accept": "application/json"}
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        data = None if method == "GET" else json.dumps(body or {}).encode()
        if data is not None:
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310 - http(s) only
        try:
            with _direct.open(request, timeout=TIMEOUT) as answer:
                return json.loads(answer.read() or b"null")
        except urllib.error.HTTPError as error:
            with error:
                raise ControlError(error.code, _message(error.read())) from None
        except (OSError, ValueError) as error:
            raise RemoteError(f"the served OTP mock at {self.base_url} did not answer {method} {path}: {error}; "
                              "is it running (otp-mock serve), and is --otp-mock-url right?") from None

    # what the helpers call ----------------------------------------------------------------
    def messages(self, to: str | None = None, template_id: str | None = None, dev_key: str | None = None,
                 limit: int = 100) -> list[SentMessage]:
        found = self.call("GET", "/_mock/messages", {"to": to, "template_id": template_id, "dev_key": dev_key,
                                                     "limit": limit})
        return [sent_message(m) for m in found["messages"]]

    def latest(self, to: str | None, template_id: str | None = None, dev_key: str | None = None) -> SentMessage:
        return sent_message(self.call("GET", "/_mock/messages/latest",
                                      {"to": to, "template_id": template_id, "dev_key": dev_key}))

    def set_scenario(self, name: str | None, dev_key: str | None = None) -> object:
        return self.call("PUT", "/_mock/scenario", body={"name": name, **_without_none({"dev_key": dev_key})})

    def advance_clock(self, seconds: Any, dev_key: str | None = None) -> ClockView:
        return clock_view(self.call("POST", "/_mock/clock",
                                    body=_without_none({"advance_seconds": seconds, "dev_key": dev_key})))

    def now(self, dev_key: str | None = None) -> float:
        return clock_view(self.call("GET", "/_mock/clock", {"dev_key": dev_key})).now

    def reset(self, dev_key: str | None = None) -> str:
        return str(self.call("POST", "/_mock/reset", body=_without_none({"dev_key": dev_key}))["reset"])

    def calls(self, after: int, base_url: str) -> tuple[list[Call], int]:
        """The key's API requests after journal record `after`, oldest first, and the newest id."""
        rows = self.call("GET", "/_mock/requests", {"plane": "api", "limit": 10_000})["requests"]
        kept = [r for r in reversed(rows) if r["id"] > after]
        return [call_of(r, base_url) for r in kept], max((r["id"] for r in rows), default=after)


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _message(data: bytes) -> str:
    try:
        body = json.loads(data)
    except ValueError:
        return data[:200].decode("utf-8", "replace")
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)


def stamp(value: str | None) -> float | None:
    """Epoch seconds of the control plane's ISO-8601 time (milliseconds), or None."""
    return None if value is None else dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def sent_message(row: dict[str, Any]) -> SentMessage:
    """A message as `/_mock/messages` shows it, as the in-process helpers give it."""
    steps = tuple(Step(s["status"], stamp(s["at"]) or 0.0, s.get("detail", "")) for s in row["lifecycle"])
    return SentMessage(row["message_id"], row["dev_key"], row["operation"], row["to"], row["template_id"],
                       row["language"], row["channel"], row["code"], row["text"], row["subject"], row["status"],
                       row["verified"], row["attempts"], row["max_attempts"], stamp(row["created_at"]) or 0.0,
                       stamp(row["expires_at"]), stamp(row["verified_at"]), steps)


def clock_view(row: dict[str, Any]) -> ClockView:
    return ClockView(row["dev_key"], float(row["offset_seconds"]), stamp(row["now"]) or 0.0)


def call_of(row: dict[str, Any], base_url: str) -> Call:
    """A journal record as a Call: its bodies as the journal keeps them (cut at
    journal_body_limit, secret fields masked), its fault from the journal's note, and, as
    in-process, no status after a transport fault; the delay is not journalled."""
    query = row.get("query") or ""
    url = base_url + row["path"] + (f"?{query}" if query else "")
    noted = _FAULT_NOTE.search(row.get("note") or "")
    fault = noted.group(1) if noted else None
    reply = (row.get("reply") or "").encode()
    transport = fault in TRANSPORT_FAULTS
    if transport:
        reply = reply[: len(reply) // 2] if fault == "incomplete_body" else b""
    return Call(row["method"], url, row["path"], query, row.get("operation"), row.get("dev_key"),
                None if transport else row["status"], (row.get("body") or "").encode(), reply,
                fault=fault, headers=row.get("headers") or {}, at=stamp(row["at"]) or 0.0)
