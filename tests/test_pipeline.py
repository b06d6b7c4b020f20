"""The pipeline's own guard: a reply outside the contract is caught, logged or raised."""

from __future__ import annotations

import pytest

from conftest import PHONE, basic
from mockserver import ContractViolation, create_app
from mockserver.pipeline import ApiReply, Context


class Scripted:
    """An interceptor that answers every request with one fixed reply."""

    def __init__(self, reply: ApiReply) -> None:
        self.reply = reply
        self.seen: list[str] = []

    def before(self, context: Context) -> ApiReply | None:
        self.seen.append(context.operation.operation_id)
        return self.reply

    def after(self, context: Context, reply: ApiReply) -> ApiReply:
        return reply


class Tampering:
    """An interceptor that changes every reply on its way out."""

    def before(self, context: Context) -> ApiReply | None:
        return None

    def after(self, context: Context, reply: ApiReply) -> ApiReply:
        if reply.status == 200 and isinstance(reply.body, dict):
            return ApiReply(200, {**reply.body, "send_channel": "pigeon"})
        return reply


BAD = ApiReply(200, {"message_id": 5, "send_channel": "fax"})
SEND = {"to": PHONE, "template": {"id": "test-template-1"}}


def test_a_reply_outside_the_contract_is_journalled_in_log_mode() -> None:
    app = create_app({"validate_responses": "log"}, interceptor=Scripted(BAD))
    client = app.test_client()
    assert client.post("/v1/messages", json=SEND, headers=basic()).status_code == 200
    entry = client.get("/_mock/requests?limit=1").get_json()["requests"][0]
    assert "message_id: expected a string, got an integer (5)" in entry["violations"]
    assert any("send_channel: 'fax' is not one of" in v for v in entry["violations"])


def test_a_reply_outside_the_contract_raises_in_test_mode() -> None:
    app = create_app({"validate_responses": "raise"}, interceptor=Scripted(BAD))
    app.testing = True
    with pytest.raises(ContractViolation, match="send_otp replied 200 outside the contract"):
        app.test_client().post("/v1/messages", json=SEND, headers=basic())


def test_an_error_with_the_wrong_status_is_a_violation() -> None:
    wrong = ApiReply(429, {"code": 3004, "message": "too many"})
    app = create_app({"validate_responses": "log"}, interceptor=Scripted(wrong))
    client = app.test_client()
    client.post("/v1/messages", json=SEND, headers=basic())
    entry = client.get("/_mock/requests?limit=1").get_json()["requests"][0]
    assert entry["violations"] == ["status 429 is not documented for send_otp (200, 400, 401, 403, 500)"]


def test_the_after_hook_sees_the_realistic_reply() -> None:
    client = create_app({"validate_responses": "log"}, interceptor=Tampering()).test_client()
    assert client.post("/v1/messages", json=SEND, headers=basic()).get_json()["send_channel"] == "pigeon"
    entry = client.get("/_mock/requests?limit=1").get_json()["requests"][0]
    assert entry["violations"] and "pigeon" in entry["violations"][0]


def test_the_hook_runs_after_auth_and_validation() -> None:
    hook = Scripted(ApiReply(200, {"message_id": "1", "send_channel": "sms"}))
    client = create_app({}, interceptor=hook).test_client()
    assert client.post("/v1/messages", json=SEND).status_code == 401
    assert client.post("/v1/messages", json={"to": PHONE}, headers=basic()).get_json()["code"] == 3002
    assert hook.seen == []
    assert client.post("/v1/messages", json=SEND, headers=basic()).status_code == 200
    assert hook.seen == ["send_otp"]
