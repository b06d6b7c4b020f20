"""The control plane under /_mock/: see and steer the mock. Every route is in this one table
and in the control plane's own OpenAPI document (/_mock/openapi.json)."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request

from mockserver.bodies import parse_json
from mockserver.errors import ApiError
from mockserver.pipeline import Pipeline
from mockserver.scenarios import magic
from mockserver.scenarios.engine import ScenarioEngine
from mockserver.store.base import MessageQuery
from mockserver.views import entry_view, iso, message_view

MAX_ADVANCE = 10 * 365 * 86400.0


def blueprint(pipeline: Pipeline, admin_spec: dict[str, Any], started: float,
              engine: ScenarioEngine) -> Blueprint:
    bp = Blueprint("admin", __name__, url_prefix="/_mock")
    service = pipeline.service

    def now(tenant: str | None) -> float:
        return service.now(tenant or "")

    @bp.get("/health")
    def health() -> Response:
        return jsonify(status="ok", store=service.store.name, uptime_seconds=round(time.time() - started, 3),
                       messages=service.store.count_messages(),
                       contract={"title": pipeline.contract.document["info"]["title"],
                                 "version": pipeline.contract.document["info"]["version"],
                                 "operations": len(pipeline.contract.operations)})

    @bp.get("/messages")
    def messages() -> Response:
        query = _query()
        found = service.store.find_messages(query)
        return jsonify(messages=[message_view(m, now(m.tenant)) for m in found])

    @bp.get("/messages/latest")
    def latest() -> Response:
        query = _query(limit=1)
        if query.to is None:
            raise AdminError(400, "query parameter 'to' is required: /_mock/messages/latest?to=%2B6591234567")
        found = service.store.find_messages(query)
        if not found:
            scope = f" for dev_key {query.tenant!r}" if query.tenant else ""
            raise AdminError(404, f"no message to {query.to!r}{scope}")
        return jsonify(message_view(found[0], now(found[0].tenant)))

    @bp.get("/messages/<message_id>")
    def one_message(message_id: str) -> Response:
        for tenant in service.store.tenants():
            message = service.store.get_message(tenant, message_id)
            if message is not None:
                return jsonify(message_view(message, now(tenant)))
        raise AdminError(404, f"no message with message_id {message_id!r}")

    @bp.route("/clock", methods=["GET", "POST"])
    def clock() -> Response:
        tenant = request.args.get("dev_key")
        if request.method == "POST":
            body = _json_object()
            seconds: Any = body.get("advance_seconds")
            if not _is_seconds(seconds):
                raise AdminError(400, "advance_seconds: expected a number of seconds from 0 to "
                                      f"{int(MAX_ADVANCE)}, got {seconds!r}")
            tenant = _optional_key(body)
            if service.store.clock_offset(tenant or "") + float(seconds) > MAX_ADVANCE:
                raise AdminError(400, f"the virtual clock can run at most {int(MAX_ADVANCE)} s ahead; "
                                      "POST /_mock/reset to start over")
            service.store.advance_clock(float(seconds), tenant)
        offset = service.store.clock_offset(tenant or "")
        return jsonify(dev_key=tenant, offset_seconds=offset, now=iso(now(tenant)))

    @bp.post("/reset")
    def reset() -> Response:
        body = _json_object(optional=True)
        tenant = _optional_key(body)
        service.reset(tenant)
        engine.reset(tenant)
        if tenant is None:
            pipeline.journal.clear()
        return jsonify(reset="all" if tenant is None else tenant)

    @bp.get("/requests")
    def requests_() -> Response:
        limit = _int_arg("limit", 100)
        entries = pipeline.journal.recent(limit, request.args.get("dev_key"))
        return jsonify(requests=[entry_view(e) for e in entries])

    @bp.post("/templates/<template_id>/review")
    def review(template_id: str) -> Response:
        body = _json_object()
        status = body.get("status")
        if status not in (1, 2, 3) or isinstance(status, bool):
            raise AdminError(400, f"status: expected 1 (pending), 2 (approved) or 3 (rejected), got {status!r}")
        remark = body.get("audit_remark", "")
        tenant = _optional_key(body)
        if tenant is None or not isinstance(remark, str):
            raise AdminError(400, "dev_key (string) is required and audit_remark must be a string")
        try:
            template = service.review_template(tenant, template_id, status, remark)
        except ApiError as error:
            raise AdminError(404, f"{error.message}: template {template_id!r} of dev_key {tenant!r}") from None
        return jsonify(template_id=template.template_id, status=template.status, audit_remark=template.audit_remark)

    @bp.get("/scenarios")
    def scenarios() -> Response:
        engine.library.refresh(force=True)
        listed = [s.summary() for s in sorted(engine.library.scenarios.values(), key=lambda s: s.name)]
        errors = [{"file": e.file, "message": e.message, "at": iso(e.at)} for e in engine.library.errors.values()]
        magic_rows = [{"recipients": list(r.recipients), "outcome": r.outcome, "error": r.error}
                      for r in magic.table()]
        return jsonify(scenarios=listed, active=engine.active(), errors=errors,
                       magic_values={"enabled": engine.magic_values, "table": magic_rows})

    @bp.get("/scenario")
    def current_scenario() -> Response:
        return jsonify(engine.active())

    @bp.put("/scenario")
    def switch_scenario() -> Response:
        body = _json_object()
        name = body.get("name")
        if name is not None and not isinstance(name, str):
            raise AdminError(400, f"name: expected a scenario name or null, got {name!r}")
        tenant = _optional_key(body)
        try:
            engine.activate(name, tenant)
        except KeyError:
            known = ", ".join(sorted(engine.library.scenarios))
            raise AdminError(404, f"no scenario {name!r}; known: {known}") from None
        return jsonify(engine.active())

    @bp.get("/openapi.json")
    def admin_openapi() -> Response:
        return jsonify(admin_spec)

    @bp.get("/contract.json")
    def contract() -> Response:
        return jsonify(pipeline.contract.document)

    return bp


class AdminError(Exception):
    """An error of the control plane: HTTP status and message, as `{"code", "message"}`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def register_errors(app: Flask) -> None:
    @app.errorhandler(AdminError)
    def admin_error(error: AdminError) -> tuple[Response, int]:
        return jsonify(code=error.status, message=error.message), error.status


def _is_seconds(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return math.isfinite(value) and 0 <= value <= MAX_ADVANCE


def _query(limit: int | None = None) -> MessageQuery:
    return MessageQuery(tenant=request.args.get("dev_key"), to=request.args.get("to"),
                        template_id=request.args.get("template_id"),
                        limit=limit or _int_arg("limit", 100))


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 10_000:
        raise AdminError(400, f"{name}: expected a whole number from 1 to 10000, got {raw!r}")
    return int(raw)


def _json_object(optional: bool = False) -> dict[str, Any]:
    raw = request.get_data(cache=False)
    if optional and not raw.strip():
        return {}
    try:
        body = parse_json(raw, request.content_type, current_app.config["OTP_MOCK_SETTINGS"].max_json_depth)
    except ApiError as error:
        raise AdminError(400, error.message) from None
    if not isinstance(body, dict):
        raise AdminError(400, "expected a JSON object")
    return body


def _optional_key(body: dict[str, Any]) -> str | None:
    tenant = body.get("dev_key", request.args.get("dev_key"))
    if tenant is not None and (not isinstance(tenant, str) or not tenant):
        raise AdminError(400, f"dev_key: expected a non-empty string, got {tenant!r}")
    return tenant
