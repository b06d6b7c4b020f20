"""The HTTP face of the mock: one Flask view that hands every request to `OtpMock.handle`
and turns its reply into a response (waiting a scenario's delay, or marking the request for
the server's transport fault). It decides nothing: routing, 404 and 405 are the mock's."""

from __future__ import annotations

import time
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import BaseConverter

from mockserver.mock import OtpMock
from mockserver.pipeline import TRANSPORT_FAULTS, ApiReply
from mockserver.web.faults import FAULT_KEY, TRANSPORT_KEY

METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"]


class AnyPath(BaseConverter):
    """Every rest of a path, line breaks and all (werkzeug's `path` stops at a newline)."""

    regex = r"[\s\S]*"
    part_isolating = False


def register(app: Flask, mock: OtpMock) -> None:
    """Route every path and method of `app` to the mock (more specific Flask routes, such as the
    console's, still win)."""
    app.url_map.merge_slashes = False  # a path is the mock's to judge: no redirects
    app.url_map.strict_slashes = False
    app.url_map.converters["anything"] = AnyPath
    view = _view(mock)
    app.add_url_rule("/<anything:path>", "mock", view, methods=METHODS, provide_automatic_options=False)


def _view(mock: OtpMock) -> Any:
    hang_seconds = mock.settings.hang_seconds

    def view(path: str) -> Response:
        environ = request.environ
        too_large = False
        try:
            body = request.get_data(cache=False)
        except RequestEntityTooLarge:
            body, too_large = b"", True
        reply = mock.handle(request.method, environ.get("PATH_INFO") or "/", _headers(environ), body,
                            query=environ.get("QUERY_STRING", ""), too_large=too_large)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.fault in TRANSPORT_FAULTS:
            return _transport_fault(reply, hang_seconds)
        return to_response(reply)

    return view


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    """The request's headers, lower-case names, straight from the WSGI environ (a measured third
    of the cost of walking werkzeug's header view)."""
    out = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            out[key.replace("_", "-").lower()] = environ[key]
    return out


def to_response(reply: ApiReply) -> Response:
    response = Response(reply.encode(), status=reply.status)
    if reply.body is None:
        del response.headers["Content-Type"]
    else:
        response.headers["Content-Type"] = "application/json"
    for name, value in reply.headers.items():
        response.headers[name] = value
    return response


def _transport_fault(reply: ApiReply, hang_seconds: float) -> Response:
    """Mark the request so the served mock's server misbehaves; explain it in-process."""
    environ = request.environ
    if not environ.get(TRANSPORT_KEY):
        return to_response(ApiReply(500, {"code": 1000, "message": f"scenario fault {reply.fault!r} needs a "
                                          "socket: it happens on the served mock (otp-mock serve) only"}))
    fault = reply.fault
    if fault == "hang":  # hold the request until the client gives up, within a bound
        gone = environ.get("waitress.client_disconnected", lambda: False)
        deadline = time.monotonic() + hang_seconds
        while time.monotonic() < deadline and not gone():
            time.sleep(0.05)
        fault = "empty_reply"
    environ[FAULT_KEY] = fault
    return to_response(ApiReply(reply.status, reply.body))
