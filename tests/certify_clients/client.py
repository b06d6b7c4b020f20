"""A tiny partner client of the OTP API over urllib (real sockets), for the certification
tests: it reads the session's URL and credentials from the environment `otp-mock certify
--run` gives it."""

from __future__ import annotations

import base64
import http.client
import json
import os
import socket
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

BASE = os.environ.get("OTP_BASE_URL", "")
KEY = os.environ.get("OTP_DEV_KEY", "")
SECRET = os.environ.get("OTP_DEV_SECRET", "")
TRANSPORT = (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError)


def auth(secret: str | None = None) -> str:
    return "Basic " + base64.b64encode(f"{KEY}:{SECRET if secret is None else secret}".encode()).decode()


def call(method: str, path: str, body: Any = None, *, raw: bytes | None = None, timeout: float | None = 5.0,
         secret: str | None = None) -> tuple[int | None, Any]:
    """(status, JSON reply) or (None, the transport error's name)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    request = urllib.request.Request(BASE + path, data=data, method=method)
    request.add_header("Authorization", auth(secret))
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as reply:  # noqa: S310 - loopback only
            return reply.status, json.loads(reply.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")
    except TRANSPORT as error:
        return None, type(error).__name__


def send(to: str, template: str = "test-template-1", **kwargs: Any) -> tuple[int | None, Any]:
    return call("POST", "/v1/messages", {"to": to, "template": {"id": template}}, **kwargs)


def verify(message_id: str, code: str, **kwargs: Any) -> tuple[int | None, Any]:
    return call("POST", "/v1/verifications", {"message_id": message_id, "verify_code": code}, **kwargs)


def latest_code(to: str) -> str:
    status, reply = call("GET", "/_mock/messages/latest?to=" + urllib.parse.quote(to, safe=""))
    assert status == 200, reply
    return str(reply["code"])


def end_session() -> None:
    """Not needed with --run (the session ends with the command); shown for serve mode."""
    call("POST", "/_certify/end", {})
