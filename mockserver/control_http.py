"""The control plane over HTTP: each route of its OpenAPI document (`data/admin-openapi.yaml`)
adapted to a ControlPlane method. Reads query strings and JSON bodies, answers JSON; errors are
`{"code": <HTTP status>, "message": ...}`. Pure: no web framework.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from mockserver.access import FULL, Access
from mockserver.bodies import parse_json
from mockserver.control import ControlPlane, check_review_status
from mockserver.errors import ApiError, ControlError
from mockserver.pipeline import ApiReply, ApiRequest
from mockserver.router import Router
from mockserver.views import entry_view, event_view

Handler = Callable[["ControlHttp", "Call"], Any]
CONSOLE = "/_mock/console/"


class Call:
    """One control-plane request: its query arguments, path parameters and JSON body."""

    def __init__(self, request: ApiRequest, params: dict[str, str], max_json_depth: int,
                 access: Access = FULL) -> None:
        self.request = request
        self.params = params
        self.access = access
        self.args = {k: v[0] for k, v in parse_qs(request.query, keep_blank_values=True).items()}
        self._depth = max_json_depth

    def arg(self, name: str) -> str | None:
        return self.args.get(name)

    def int_arg(self, name: str, default: int, most: int = 10_000) -> int:
        raw = self.args.get(name)
        if raw is None:
            return default
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 9) or not 1 <= int(raw) <= most:
            raise ControlError(400, f"{name}: expected a whole number from 1 to {most}, got {raw!r}")
        return int(raw)

    def body(self, optional: bool = False) -> dict[str, Any]:
        raw = self.request.body
        if optional and not raw.strip():
            return {}
        if self.request.too_large:
            raise ControlError(400, "the body is larger than the mock accepts (setting max_body_bytes)")
        try:
            value = parse_json(raw, self.request.header("content-type"), self._depth)
        except ApiError as error:
            raise ControlError(400, error.message) from None
        if not isinstance(value, dict):
            raise ControlError(400, "expected a JSON object")
        return value

    def dev_key(self, body: dict[str, Any] | None = None) -> str | None:
        """The dev_key of the body, else of the query; None when neither names one (a caller
        with one key's credentials: that key, always)."""
        tenant = (body or {}).get("dev_key", self.args.get("dev_key"))
        if tenant is not None and (not isinstance(tenant, str) or not tenant):
            raise ControlError(400, f"dev_key: expected a non-empty string, got {tenant!r}")
        return self.access.scope(tenant)


class ControlHttp:
    """Answers the control plane's routes by operationId."""

    def __init__(self, plane: ControlPlane, document: dict[str, Any], max_json_depth: int = 32,
                 router: Router | None = None) -> None:
        self.plane = plane
        self.document = document
        self.max_json_depth = max_json_depth
        self.router = router
        missing = {op["operationId"] for item in document["paths"].values() for op in item.values()
                   if isinstance(op, dict) and "operationId" in op} - set(HANDLERS)
        if missing:
            raise ControlError(500, f"the control plane has no handler for {', '.join(sorted(missing))}")

    def handle(self, operation: str, request: ApiRequest, params: dict[str, str], access: Access = FULL) -> ApiReply:
        call = Call(request, params, self.max_json_depth, access)
        try:
            return ApiReply(200, HANDLERS[operation](self, call))
        except ControlError as error:
            return ApiReply(error.status, {"code": error.status, "message": error.message})


def _messages(http: ControlHttp, call: Call) -> Any:
    found = http.plane.messages(call.arg("to"), call.arg("template_id"), call.dev_key(), call.int_arg("limit", 100))
    return {"messages": [m.as_json() for m in found]}


def _latest(http: ControlHttp, call: Call) -> Any:
    return http.plane.latest(call.arg("to"), call.arg("template_id"), call.dev_key()).as_json()


def _message(http: ControlHttp, call: Call) -> Any:
    message = http.plane.message(call.params["message_id"])
    if call.access.scope(None) not in (None, message.dev_key):  # another key's: as if it were not there
        raise ControlError(404, f"no message with message_id {call.params['message_id']!r}")
    return message.as_json()


def _own_message(http: ControlHttp, call: Call) -> str:
    """The path's message_id, once it is known to be the caller's to see."""
    _message(http, call)
    return call.params["message_id"]


def _inbox(http: ControlHttp, call: Call) -> Any:
    raw = call.arg("after") or "0"
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ControlError(400, f"after: expected a cursor >= 0 (the 'cursor' of the last page), got {raw!r}")
    stream = call.arg("stream")
    if stream is not None and not (stream.isascii() and stream.isalnum() and len(stream) <= 64):
        raise ControlError(400, f"stream: expected the 'stream' of the last page (letters and digits), got {stream!r}")
    page = http.plane.inbox(int(raw), call.dev_key(), call.int_arg("limit", 50, 500), stream)
    return {"messages": page.rows_json, "cursor": page.cursor, "resync": page.resync, "stream": page.stream,
            "clock": http.plane.clock(call.dev_key()).as_json()}


def _active(http: ControlHttp, call: Call) -> Any:
    return _visible(http.plane.active_scenarios(), call.access)


def _visible(active: dict[str, Any], access: Access) -> dict[str, Any]:
    """The active scenarios a caller may see: every key's with full access, else its own (if any)."""
    if access.full:
        return active
    return {**active, "keys": {k: v for k, v in active["keys"].items() if k == access.dev_key}}


def _listing(http: ControlHttp, call: Call) -> Any:
    listing = http.plane.scenarios_listing()
    return {**listing, "active": _visible(listing["active"], call.access)}


def _advance(http: ControlHttp, call: Call) -> Any:
    body = call.body()
    return http.plane.advance_clock(body.get("advance_seconds"), call.dev_key(body)).as_json()


def _review(http: ControlHttp, call: Call) -> Any:
    body = call.body()
    status = body.get("status")
    check_review_status(status)  # first: its message is the most useful
    remark, tenant = body.get("audit_remark", ""), call.dev_key(body)
    if tenant is None or not isinstance(remark, str):
        raise ControlError(400, "dev_key (string) is required and audit_remark must be a string")
    template = http.plane.review(call.params["template_id"], tenant, status, remark)
    return {"template_id": template.template_id, "status": template.status, "audit_remark": template.audit_remark}


def _set_scenario(http: ControlHttp, call: Call) -> Any:
    body = call.body()
    name = body.get("name")
    if name is not None and not isinstance(name, str):
        raise ControlError(400, f"name: expected a scenario name or null, got {name!r}")
    http.plane.set_scenario(name, call.dev_key(body))
    return _active(http, call)


def _requests(http: ControlHttp, call: Call) -> Any:
    message_id = call.arg("message_id")
    if message_id:  # the requests that named one message: its send, its verifications
        message = http.plane.message(message_id)
        if call.access.scope(None) not in (None, message.dev_key):
            raise ControlError(404, f"no message with message_id {message_id!r}")
        return {"requests": [entry_view(e) for e in http.plane.message_requests(message)]}
    entries = http.plane.requests(call.dev_key(), call.int_arg("limit", 100), call.arg("plane") or "api")
    return {"requests": [entry_view(e) for e in entries]}


def _events(http: ControlHttp, call: Call) -> Any:
    raw = call.arg("after") or "0"
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 18):
        raise ControlError(400, f"after: expected a cursor >= 0 (the 'next' of the last page), got {raw!r}")
    types = [t for t in (call.arg("type") or "").split(",") if t] or None
    page = http.plane.events(int(raw), call.dev_key(), call.int_arg("limit", 100, 1000), types)
    return {"events": [event_view(e) for e in page.events], "next": page.next, "head": page.head,
            "oldest": page.oldest}


def _claim(http: ControlHttp, call: Call) -> Any:
    body = call.body()
    limit, lease = body.get("limit", 100), body.get("lease_seconds", 30)
    return {"events": [event_view(e) for e in http.plane.claim_events(_consumer(body), limit, lease)]}


def _ack(http: ControlHttp, call: Call) -> Any:
    body = call.body()
    ids = body.get("ids")
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise ControlError(400, f"ids: expected a list of record ids, got {ids!r}")
    return {"acknowledged": http.plane.ack_events(_consumer(body), ids)}


def _consumer(body: dict[str, Any]) -> str:
    consumer = body.get("consumer")
    if not isinstance(consumer, str):
        raise ControlError(400, f"consumer: expected the consumer's name (a string), got {consumer!r}")
    return consumer


def _set_callbacks(http: ControlHttp, call: Call) -> Any:
    body = call.body()
    return http.plane.configure_callbacks(body, call.dev_key(body))


def _deliveries(http: ControlHttp, call: Call) -> Any:
    found = http.plane.deliveries(call.dev_key(), call.arg("message_id"), call.arg("status"),
                                  call.int_arg("limit", 100, 1000))
    return {"deliveries": found}


def _resend(http: ControlHttp, call: Call) -> Any:
    return http.plane.resend_delivery(call.params["delivery_id"], call.dev_key())


def _recover(http: ControlHttp, call: Call) -> Any:
    body = call.body()
    return http.plane.recover_deliveries(body.get("since"), call.dev_key(body))


def _trigger(http: ControlHttp, call: Call) -> Any:
    body = call.body()
    unknown = sorted(set(body) - {"event", "dev_key", "message_id", "override"})
    if unknown:
        raise ControlError(400, f"unknown field {unknown[0][:40]!r}; a trigger has event, dev_key, message_id, "
                                "override")
    tenant = call.dev_key(body)
    if tenant is None and not call.access.full:
        tenant = call.access.dev_key
    return http.plane.trigger_callback(body.get("event"), tenant, body.get("message_id"), body.get("override"),
                                       scoped=not call.access.full)


def _health(http: ControlHttp, call: Call) -> Any:
    health = http.plane.health()
    return {"status": health.status, "store": health.store, "uptime_seconds": health.uptime_seconds,
            "messages": health.messages, "contract": health.contract}


def _index(http: ControlHttp, call: Call) -> Any:
    router = http.router
    version = str(getattr(sys.modules["mockserver"], "__version__", ""))  # the package, loaded before us
    return {"name": "OTP Mock Kit: the EngageLab OTP API", "version": version, "console": CONSOLE,
            "documents": {"contract": "/_mock/contract.json", "control_plane": "/_mock/openapi.json"},
            "api": router.index("api") if router else [], "control": router.index("control") if router else []}


HANDLERS: dict[str, Handler] = {
    "index": _index,
    "health": _health,
    "list_messages": _messages,
    "latest_message": _latest,
    "get_message": _message,
    "get_clock": lambda http, call: http.plane.clock(call.dev_key()).as_json(),
    "advance_clock": _advance,
    "reset": lambda http, call: {"reset": http.plane.reset(call.dev_key(call.body(optional=True)))},
    "list_requests": _requests,
    "list_events": _events,
    "claim_events": _claim,
    "ack_events": _ack,
    "review_template": _review,
    "list_scenarios": _listing,
    "get_scenario": _active,
    "inbox": _inbox,
    "expire_message": lambda http, call: http.plane.expire(_own_message(http, call)).as_json(),
    "fail_delivery": lambda http, call: http.plane.fail_delivery(
        _own_message(http, call), call.body(optional=True).get("error_code")).as_json(),
    "set_scenario": _set_scenario,
    "get_callbacks": lambda http, call: http.plane.callback_config(call.dev_key()),
    "set_callbacks": _set_callbacks,
    "delete_callbacks": lambda http, call: http.plane.remove_callbacks(call.dev_key()),
    "list_deliveries": _deliveries,
    "resend_delivery": _resend,
    "recover_deliveries": _recover,
    "trigger_callback": _trigger,
    "admin_openapi": lambda http, call: http.document,
    "contract": lambda http, call: http.plane.contract.document,
}
