"""One small client over both kinds of target (the in-process app or real HTTP), for the explicit
tests and the run's own housekeeping. Every reply carries a curl command that reproduces it with
the credentials left as `$OTP_DEV_KEY:$OTP_DEV_SECRET`, so no secret is ever printed.
"""

from __future__ import annotations

import base64
import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import requests

VALID = "valid"  # `auth=VALID`: the run's credentials; `auth=None`: no header; any other string: that header
TIMEOUT = 15.0
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


class Refused(Exception):
    """A request the safety rules do not allow on this target; the message says which rule."""


@dataclass(frozen=True)
class Reply:
    """What came back, with a curl command that sends the same request again."""

    method: str
    path: str
    status: int
    body: Any
    curl: str

    @property
    def code(self) -> int | None:
        value = self.body.get("code") if isinstance(self.body, dict) else None
        return value if isinstance(value, int) and not isinstance(value, bool) else None

    def describe(self) -> str:
        shown = json.dumps(self.body, ensure_ascii=False) if not isinstance(self.body, str) else repr(self.body)
        return f"HTTP {self.status} {shown[:400]}"

    def expect_error(self, status: int, code: int, what: str) -> None:
        """Fail unless the reply is the error envelope with this status and code."""
        if self.status != status or self.code != code:
            raise AssertionError(f"{what}: expected HTTP {status} with code {code}, got {self.describe()}\n"
                                 f"Reproduce with:\n    {self.curl}")

    def expect_ok(self, what: str) -> dict[str, Any]:
        """The JSON object of a 200 reply, or a failure saying what arrived instead."""
        if self.status != 200 or not isinstance(self.body, dict):
            raise AssertionError(f"{what}: expected HTTP 200 with a JSON object, got {self.describe()}\n"
                                 f"Reproduce with:\n    {self.curl}")
        return self.body


class Transport(Protocol):
    def send(self, method: str, path: str, headers: dict[str, str], body: Any,
             params: Mapping[str, str] | None) -> tuple[int, bytes]: ...


class WsgiTransport:
    """Requests straight into a WSGI app (the in-process mock): no socket."""

    def __init__(self, app: Any) -> None:
        self._client = app.test_client()

    def send(self, method: str, path: str, headers: dict[str, str], body: Any,
             params: Mapping[str, str] | None) -> tuple[int, bytes]:
        response = self._client.open(path, method=method, headers=headers, json=body,
                                     query_string=dict(params or {}))
        return response.status_code, response.get_data()


class HttpTransport:
    """Requests over real HTTP; proxies from the environment are ignored for loopback targets."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._session = requests.Session()
        self._session.trust_env = urlsplit(base_url).hostname not in LOOPBACK

    def send(self, method: str, path: str, headers: dict[str, str], body: Any,
             params: Mapping[str, str] | None) -> tuple[int, bytes]:
        response = self._session.request(method, self.base_url + path, headers=headers, json=body,
                                         params=params, timeout=TIMEOUT, allow_redirects=False)
        return response.status_code, response.content

    def close(self) -> None:
        self._session.close()


Admit = Callable[[str, Any, dict[str, str]], "str | None"]


class Client:
    """The EngageLab operations and the mock's control plane, as plain calls."""

    def __init__(self, transport: Transport, shown_url: str, dev_key: str, dev_secret: str,
                 admit: Admit | None = None) -> None:
        self.transport = transport
        self.shown_url = shown_url  # the base URL curl commands use
        self.dev_key = dev_key
        self._authorization = "Basic " + base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()
        self._admit = admit

    def call(self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None,
             auth: str | None = VALID) -> Reply:
        headers = {"Accept": "application/json"}
        if auth == VALID:
            headers["Authorization"] = self._authorization
        elif auth is not None:
            headers["Authorization"] = auth
        status, raw = self.transport.send(method, path, headers, body, params)
        try:
            parsed: Any = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode("utf-8", "replace")[:2000]
        return Reply(method, path, status, parsed, self.curl(method, path, body, params, auth))

    def curl(self, method: str, path: str, body: Any, params: Mapping[str, str] | None, auth: str | None) -> str:
        url = self.shown_url + path + (f"?{urlencode(params)}" if params else "")
        parts = ["curl", "-s", "-X", method]
        if auth == VALID:
            parts += ["-u", '"$OTP_DEV_KEY:$OTP_DEV_SECRET"']
        elif auth is not None:
            parts += ["-H", shlex.quote(f"Authorization: {auth}")]
        if body is not None:
            parts += ["-H", "'Content-Type: application/json'", "-d", shlex.quote(json.dumps(body))]
        return " ".join([*parts, shlex.quote(url)])

    # the API ----------------------------------------------------------------------------------
    def send(self, operation_id: str, path: str, body: dict[str, Any]) -> Reply:
        """A send operation, after the safety guard agreed (else `Refused`)."""
        reason = self._admit(operation_id, body, {}) if self._admit else None
        if reason is not None:
            raise Refused(reason)
        return self.call("POST", path, body=body)

    def send_otp(self, to: str, template_id: str) -> Reply:
        return self.send("send_otp", "/v1/messages", {"to": to, "template": {"id": template_id}})

    def send_custom_code(self, to: str, template_id: str, code: str) -> Reply:
        return self.send("send_custom_code", "/v1/codes", {"to": to, "code": code, "template": {"id": template_id}})

    def send_custom_message(self, to: str, template_id: str, params: dict[str, str]) -> Reply:
        body = {"to": to, "template": {"id": template_id, "params": params}}
        return self.send("send_custom_message", "/v1/custom-messages", body)

    def verify(self, message_id: str, code: str) -> Reply:
        return self.call("POST", "/v1/verifications", body={"message_id": message_id, "verify_code": code})

    def list_templates(self, auth: str | None = VALID) -> Reply:
        return self.call("GET", "/v1/template-configs", auth=auth)

    def get_template(self, template_id: str) -> Reply:
        return self.call("GET", f"/v1/template-configs/{template_id}")

    def delete_template(self, template_id: str) -> Reply:
        return self.call("DELETE", f"/v1/template-configs/{template_id}")

    # the mock's control plane, with this run's credentials (so scoped to its dev_key) ---------
    def latest_message(self, to: str) -> Reply:
        return self.call("GET", "/_mock/messages/latest", params={"to": to, "dev_key": self.dev_key})

    def message(self, message_id: str) -> Reply:
        return self.call("GET", f"/_mock/messages/{message_id}")

    def reset_key(self) -> Reply:
        return self.call("POST", "/_mock/reset", body={"dev_key": self.dev_key})

    def advance_clock(self, seconds: float) -> Reply:
        return self.call("POST", "/_mock/clock", body={"advance_seconds": seconds, "dev_key": self.dev_key})
