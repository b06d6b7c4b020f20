"""The EngageLab operations, one route per operation of the contract."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from mockserver.contract import Operation
from mockserver.pipeline import TRANSPORT_FAULTS, ApiReply, ApiRequest, Pipeline
from mockserver.web.faults import FAULT_KEY, TRANSPORT_KEY


def blueprint(pipeline: Pipeline, hang_seconds: float = 30.0) -> Blueprint:
    """Routes compiled once from the contract's operations."""
    bp = Blueprint("api", __name__)
    for op in pipeline.contract.operations:
        bp.add_url_rule(op.rule, endpoint=op.operation_id, view_func=_view(pipeline, op, hang_seconds),
                        methods=[op.method])
    return bp


def _view(pipeline: Pipeline, op: Operation, hang_seconds: float) -> Callable[..., Response]:
    def view(**path_params: str) -> Response:
        too_large = False
        try:
            body = request.get_data(cache=False) if op.has_body else b""
        except RequestEntityTooLarge:
            body, too_large = b"", True
        api_request = ApiRequest(
            method=request.method, path=request.path, headers=_headers(request.environ),
            body=body, path_params=path_params, too_large=too_large,
        )
        reply = pipeline.handle(op, api_request)
        if reply.delay:
            time.sleep(reply.delay)
        if reply.fault in TRANSPORT_FAULTS:
            return _transport_fault(reply, hang_seconds)
        return to_response(reply)

    view.__name__ = f"api_{op.operation_id}"
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
    response = Response(reply.encode(), status=reply.status, mimetype="application/json")
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
