"""The HTTP face of the mock: a WSGI app that hands every request to `OtpMock.handle` and writes
its reply (waiting a scenario's delay, or marking the request for the server's transport fault).
It decides nothing: routing, 404 and 405 are the mock's.

`answer` replaces `mock.handle_request` (the testing face answers through its own records).

It sits in front of the Flask app (`app.wsgi_app = MockWSGI(mock, app.wsgi_app)`, Flask's own
pattern for middleware): paths under `flask_prefixes` go on to Flask's routes (the console's
pages), and `/` too when the client prefers HTML (a browser); everything else is the mock's.
Serving the API without Flask's request context and router halves what a request costs around
the mock (measured with py-spy on two workers).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from werkzeug.datastructures import MIMEAccept
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.http import parse_accept_header
from werkzeug.wsgi import get_input_stream

from mockserver.mock import OtpMock
from mockserver.pipeline import TRANSPORT_FAULTS, ApiReply, ApiRequest
from mockserver.web.faults import FAULT_KEY, TRANSPORT_KEY

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
Answer = Callable[[ApiRequest], ApiReply]
_REASONS = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


def _path(environ: dict[str, Any]) -> str:
    """PATH_INFO as text: WSGI hands it over as bytes decoded latin-1 (PEP 3333), so a path
    naming a non-ASCII template id is re-decoded as the UTF-8 the client percent-encoded."""
    raw = environ.get("PATH_INFO") or "/"
    try:
        return raw.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return raw


def _wants_html(environ: dict[str, Any]) -> bool:
    """A browser's Accept (text/html before */*): `/` is then the console, else the JSON index."""
    accept = parse_accept_header(environ.get("HTTP_ACCEPT"), MIMEAccept)
    return accept.best_match(("application/json", "text/html")) == "text/html"


class MockWSGI:
    def __init__(self, mock: OtpMock, fallback: WSGIApp | None = None, flask_prefixes: tuple[str, ...] = (),
                 answer: Answer | None = None) -> None:
        self.mock = mock
        self.answer = answer or mock.handle_request
        self.fallback = fallback
        self.flask_prefixes = flask_prefixes
        self.max_body = mock.settings.max_body_bytes
        self.hang_seconds = mock.settings.hang_seconds

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = _path(environ)
        if self.fallback is not None and self.flask_prefixes and (
                path.startswith(self.flask_prefixes) or (path == "/" and _wants_html(environ))):
            return self.fallback(environ, start_response)
        body, too_large = self._body(environ)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        reply = self.answer(ApiRequest(method, path, _headers(environ), body, {}, too_large,
                                       environ.get("QUERY_STRING", "")))
        if reply.delay:
            time.sleep(reply.delay)
        if reply.fault in TRANSPORT_FAULTS:
            reply = self._transport_fault(environ, reply)
        data = reply.encode()
        headers = [("Content-Type", "application/json")] if reply.body is not None else []
        headers += [("Content-Length", str(len(data))), *reply.headers.items()]
        start_response(_REASONS.get(reply.status, str(reply.status)), headers)
        return [b""] if method == "HEAD" else [data]

    def _body(self, environ: dict[str, Any]) -> tuple[bytes, bool]:
        """The request body, or (b"", True) when it is larger than max_body_bytes."""
        try:
            return get_input_stream(environ, max_content_length=self.max_body).read(), False
        except RequestEntityTooLarge:
            return b"", True

    def _transport_fault(self, environ: dict[str, Any], reply: ApiReply) -> ApiReply:
        """Mark the request so the served mock's server misbehaves; explain it in-process."""
        if not environ.get(TRANSPORT_KEY):
            return ApiReply(500, {"code": 1000, "message": f"scenario fault {reply.fault!r} needs a "
                                  "socket: it happens on the served mock (otp-mock serve) only"})
        fault = reply.fault
        if fault == "hang":  # hold the request until the client gives up, within a bound
            gone = environ.get("waitress.client_disconnected", lambda: False)
            deadline = time.monotonic() + self.hang_seconds
            while time.monotonic() < deadline and not gone():
                time.sleep(0.05)
            fault = "empty_reply"
        environ[FAULT_KEY] = fault
        return ApiReply(reply.status, reply.body)


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers, lower-case names, straight from the WSGI environ (a measured third
    of the cost of walking werkzeug's header view)."""
    out = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            out[key.replace("_", "-").lower()] = environ[key]
    return out
