"""The EngageLab operations, one route per operation of the contract."""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Response, request
from werkzeug.exceptions import RequestEntityTooLarge

from mockserver.contract import Operation
from mockserver.pipeline import ApiReply, ApiRequest, Pipeline


def blueprint(pipeline: Pipeline) -> Blueprint:
    """Routes compiled once from the contract's operations."""
    bp = Blueprint("api", __name__)
    for op in pipeline.contract.operations:
        bp.add_url_rule(op.rule, endpoint=op.operation_id, view_func=_view(pipeline, op),
                        methods=[op.method])
    return bp


def _view(pipeline: Pipeline, op: Operation) -> Callable[..., Response]:
    def view(**path_params: str) -> Response:
        too_large = False
        try:
            body = request.get_data(cache=False) if op.has_body else b""
        except RequestEntityTooLarge:
            body, too_large = b"", True
        api_request = ApiRequest(
            method=request.method, path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body, path_params=path_params, too_large=too_large,
        )
        return to_response(pipeline.handle(op, api_request))

    view.__name__ = f"api_{op.operation_id}"
    return view


def to_response(reply: ApiReply) -> Response:
    response = Response(reply.encode(), status=reply.status, mimetype="application/json")
    for name, value in reply.headers.items():
        response.headers[name] = value
    return response
