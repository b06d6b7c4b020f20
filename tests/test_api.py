"""Every operation through HTTP: its success path and each error code the mock produces by
default, with the exact HTTP status and envelope. Every response is validated by `client`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import PHONE, ROOT, Client, basic

SMS_TEMPLATE: dict[str, Any] = {
    "template_id": "login-sms",
    "description": "Login code by SMS",
    "send_channel_strategy": "sms",
    "brand_name": "Acme",
    "verify_code_config": {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5},
    "sms_config": {
        "template_type": 2,
        "template_custom_config": {
            "custom_sub_type": "authentication",
            "custom_content": "[{{brand_name}}] Hi {{name}}, your code is {{code}} ({{ttl}} min).",
        },
    },
}


def assert_error(response: Any, status: int, code: int, fragment: str = "") -> None:
    body = response.get_json()
    assert response.status_code == status, body
    assert response.mimetype == "application/json"
    assert set(body) == {"code", "message"}
    assert body["code"] == code, body
    assert body["message"] and fragment in body["message"], body


# -- success paths ---------------------------------------------------------------------------

def test_send_otp_returns_a_19_digit_id_and_the_first_channel(client: Client) -> None:
    body = client.send().get_json()
    assert body["send_channel"] == "whatsapp"  # test-template-1 is whatsapp|sms
    assert len(body["message_id"]) == 19 and body["message_id"].isdigit()


def test_send_otp_then_verify(client: Client) -> None:
    message_id = client.send().get_json()["message_id"]
    code = client.code_of(message_id)
    assert len(code) == 6 and code.isdigit()
    reply = client.verify(message_id, code)
    assert reply.status_code == 200
    assert reply.get_json() == {"message_id": message_id, "verify_code": code, "verified": True}


def test_send_custom_code_delivers_the_callers_code(client: Client) -> None:
    reply = client.post("/v1/codes", json={"to": PHONE, "code": "398210", "template": {"id": "sms-default"}})
    assert reply.status_code == 200 and reply.get_json()["send_channel"] == "sms"
    message = client.get(f"/_mock/messages/{reply.get_json()['message_id']}", key=None).get_json()
    assert message["code"] == "398210" and "398210" in message["text"]


@pytest.mark.parametrize("to", [PHONE, [PHONE, "+447700900123"]], ids=["string", "array"])
def test_send_custom_message_to_one_or_many(client: Client, to: Any) -> None:
    body = {"to": to, "template": {"id": "notification-template", "params": {"order": "A-17"}}}
    reply = client.post("/v1/custom-messages", json=body)
    assert reply.status_code == 200 and reply.get_json()["send_channel"] == "sms"
    recipients = to if isinstance(to, list) else [to]
    for recipient in recipients:
        latest = client.get(f"/_mock/messages/latest?to={recipient.replace('+', '%2B')}", key=None)
        assert latest.get_json()["text"] == "[EngageLab] Your order A-17 has shipped."


def test_template_create_list_get_delete(client: Client) -> None:
    created = client.post("/v1/template-configs", json=SMS_TEMPLATE)
    assert created.status_code == 200 and created.get_json() == {"code": 0, "message": "success"}
    listed = {t["template_id"]: t for t in client.get("/v1/template-configs").get_json()}
    summary = listed["login-sms"]
    assert summary["status"] == 2 and summary["audit_remark"] == ""
    assert summary["sms_config"] == {"template_type": 2, "template_parts": 1}  # no content in lists
    detail = client.get("/v1/template-configs/login-sms").get_json()
    assert detail["sms_config"]["template_custom_config"] == SMS_TEMPLATE["sms_config"]["template_custom_config"]
    assert detail["verify_code_config"] == SMS_TEMPLATE["verify_code_config"]
    deleted = client.delete("/v1/template-configs/login-sms")
    assert deleted.status_code == 200 and deleted.get_json() == {"code": 0, "message": "success"}
    assert_error(client.get("/v1/template-configs/login-sms"), 400, 4001, "config not exist")


def test_a_created_template_can_send(client: Client) -> None:
    client.post("/v1/template-configs", json=SMS_TEMPLATE)
    reply = client.send(template="login-sms", params={"name": "Bob"})
    message = client.get(f"/_mock/messages/{reply.get_json()['message_id']}", key=None).get_json()
    assert message["text"] == f"[Acme] Hi Bob, your code is {message['code']} (5 min)."


# -- error codes -----------------------------------------------------------------------------

@pytest.mark.parametrize("headers", [
    pytest.param({}, id="missing"),
    pytest.param({"Authorization": "Bearer abc"}, id="bearer"),
    pytest.param({"Authorization": "Basic !!!"}, id="not-base64"),
    pytest.param(basic("team-a", ""), id="empty-secret"),
])
def test_2001_for_missing_or_malformed_credentials(client: Client, headers: dict[str, str]) -> None:
    reply = client.post("/v1/messages", json={"to": PHONE, "template": {"id": "test-template-1"}},
                        key=None, headers=headers)
    assert_error(reply, 401, 2001, "authentication failed")


@pytest.fixture
def keys_file(tmp_path: Path) -> str:
    path = tmp_path / "keys.yaml"
    path.write_text(
        "keys:\n"
        "  - {dev_key: full, dev_secret: 'pw-full'}\n"
        "  - {dev_key: 'off', dev_secret: 'pw-off', disabled: true}\n"
        "  - {dev_key: old, dev_secret: 'pw-old', expires_at: '2020-01-01T00:00:00Z'}\n"
        "  - {dev_key: sender, dev_secret: 'pw-send', permissions: [send]}\n",
        encoding="utf-8",
    )
    return str(path)


@pytest.mark.parametrize(("key", "secret", "status", "code", "fragment"), [
    ("full", "pw-full", 200, None, ""),
    ("full", "wrong", 401, 2001, "invalid dev_key or dev_secret"),
    ("nobody", "pw-full", 401, 2001, "invalid dev_key or dev_secret"),
    ("off", "pw-off", 401, 2002, "disabled"),
    ("old", "pw-old", 401, 2002, "expired"),
    ("sender", "pw-send", 200, None, ""),
])
def test_keys_file_gives_2001_and_2002(make_client: Any, keys_file: str, key: str, secret: str,
                                        status: int, code: int | None, fragment: str) -> None:
    client = make_client(keys_file=keys_file)
    reply = client.post("/v1/messages", json={"to": PHONE, "template": {"id": "test-template-1"}},
                        key=None, headers=basic(key, secret))
    if code is None:
        assert reply.status_code == status
    else:
        assert_error(reply, status, code, fragment)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/v1/verifications"),
    ("GET", "/v1/template-configs"),
    ("DELETE", "/v1/template-configs/test-template-1"),
])
def test_2004_for_an_operation_outside_the_keys_permissions(make_client: Any, keys_file: str,
                                                             method: str, path: str) -> None:
    client = make_client(keys_file=keys_file)
    json = {"message_id": "1", "verify_code": "1"} if method == "POST" else None
    reply = client.call(method, path, key=None, headers=basic("sender", "pw-send"), json=json)
    assert_error(reply, 403, 2004, "permission")


@pytest.mark.parametrize(("data", "content_type", "fragment"), [
    (b'{"to": "+6591234567",', "application/json", "not valid json"),
    (b'{"to": "+6591234567"}', "text/plain", "Content-Type"),
    (b"", "application/json", "empty"),
])
def test_3001_for_a_body_that_is_not_json(client: Client, data: bytes, content_type: str, fragment: str) -> None:
    reply = client.post("/v1/messages", data=data, headers={"Content-Type": content_type})
    assert_error(reply, 400, 3001, fragment)


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/v1/messages", {"to": PHONE, "template": {"id": "test-template-1", "language": "fr"}},
     "template.language: 'fr' is not one of default, zh_CN, zh_HK, en, ja, th, es"),
    ("/v1/messages", {"to": PHONE}, "template: required field is missing"),
    ("/v1/codes", {"to": PHONE, "template": {"id": "sms-default"}}, "code: required field is missing"),
    ("/v1/verifications", {"message_id": "1"}, "verify_code: required field is missing"),
    ("/v1/verifications", {"message_id": 17, "verify_code": "1"}, "message_id: expected a string, got an integer (17)"),
    ("/v1/template-configs",
     {**SMS_TEMPLATE, "verify_code_config": {"verify_code_type": 1, "verify_code_len": 12, "verify_code_ttl": 5}},
     "verify_code_config.verify_code_len: 12 is greater than the maximum of 10"),
    ("/v1/template-configs", {**SMS_TEMPLATE, "send_channel_strategy": "email|sms"},
     "send_channel_strategy: 'email|sms' does not match"),
])
def test_3002_names_the_field_and_the_rule(client: Client, path: str, body: dict[str, Any], message: str) -> None:
    assert_error(client.post(path, json=body), 400, 3002, message)


def test_3002_for_a_path_parameter_too_long(client: Client) -> None:
    assert_error(client.get("/v1/template-configs/" + "x" * 129), 400, 3002, "templateId: length 129")


@pytest.mark.parametrize(("change", "message"), [
    ({"sms_config": None}, "not contains any channel config"),
    ({"send_channel_strategy": "sms|sms"}, "appears more than once"),
])
def test_3003_for_template_business_rules(client: Client, change: dict[str, Any], message: str) -> None:
    body = {k: v for k, v in {**SMS_TEMPLATE, **change}.items() if v is not None}
    assert_error(client.post("/v1/template-configs", json=body), 400, 3003, message)


def test_3003_for_a_duplicate_template_id(client: Client) -> None:
    client.post("/v1/template-configs", json=SMS_TEMPLATE)
    assert_error(client.post("/v1/template-configs", json=SMS_TEMPLATE), 400, 3003, "already exists")


def test_3003_for_an_email_template_sent_to_a_phone(client: Client) -> None:
    assert_error(client.send(template="email-default"), 400, 3003, "must be an email address")


def test_3004_for_a_second_send_while_the_code_is_valid(client: Client) -> None:
    client.send()
    assert_error(client.send(), 400, 3004, "frequency limit")


@pytest.mark.parametrize(("path", "body", "fragment"), [
    ("/v1/messages", {"to": PHONE, "template": {"id": "no-such-template"}}, "config not exist"),
    ("/v1/codes", {"to": PHONE, "code": "1234", "template": {"id": "no-such-template"}}, "config not exist"),
    ("/v1/custom-messages", {"to": PHONE, "template": {"id": "no-such-template"}}, "config not exist"),
    ("/v1/verifications", {"message_id": "1725407449772531712", "verify_code": "123456"}, "message not exist"),
])
def test_4001_for_unknown_templates_and_messages(client: Client, path: str, body: dict[str, Any],
                                                 fragment: str) -> None:
    assert_error(client.post(path, json=body), 400, 4001, fragment)


def test_4001_for_deleting_an_unknown_template(client: Client) -> None:
    assert_error(client.delete("/v1/template-configs/nope"), 400, 4001, "config not exist")


def test_5011_for_a_recipient_that_is_not_a_number_or_an_address(client: Client) -> None:
    assert_error(client.send(to="0912 345 678"), 400, 5011, "invalid phone number")


def test_custom_message_needs_params_code_for_an_authentication_template(client: Client) -> None:
    reply = client.post("/v1/custom-messages", json={"to": PHONE, "template": {"id": "test-template-1"}})
    assert_error(reply, 400, 3002, "template.params.code: required field is missing")


def test_custom_code_messages_are_not_verifiable_by_default(client: Client) -> None:
    reply = client.post("/v1/codes", json={"to": PHONE, "code": "398210", "template": {"id": "sms-default"}})
    assert_error(client.verify(reply.get_json()["message_id"], "398210"), 400, 3003, "your own system")


def test_custom_code_messages_verify_when_the_setting_says_so(make_client: Any) -> None:
    client = make_client(verify_custom_codes=True)
    reply = client.post("/v1/codes", json={"to": PHONE, "code": "398210", "template": {"id": "sms-default"}})
    assert client.verify(reply.get_json()["message_id"], "398210").get_json()["verified"] is True


# -- routing outside the contract ------------------------------------------------------------

def test_unknown_path_lists_the_operations(client: Client) -> None:
    reply = client.get("/v1/templates")
    assert reply.status_code == 404 and "POST /v1/template-configs" in reply.get_json()["message"]


def test_wrong_method_is_405_with_allow(client: Client) -> None:
    reply = client.get("/v1/messages")
    assert reply.status_code == 405 and "POST" in reply.headers["Allow"]
    assert reply.get_json()["code"] == 405


def test_the_status_as_code_of_404_and_405_is_documented_as_the_mocks_choice(client: Client) -> None:
    assert [client.get(path).get_json()["code"] for path in ("/v1/templates", "/v1/messages")] == [404, 405]
    conventions = yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8"))["info"]["description"]
    assert "puts the HTTP status in `code`" in conventions and "neither is an EngageLab code" in conventions
    assert "the HTTP status as `code`" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_a_template_id_beyond_ascii_is_measured_in_characters(client: Client) -> None:
    """WSGI hands the path over latin-1 decoded; the id is re-read as the UTF-8 it was sent as."""
    from urllib.parse import quote

    wide = "\U0001D57F" * 40  # 40 characters, 160 bytes in UTF-8
    created = client.post("/v1/template-configs", json={**SMS_TEMPLATE, "template_id": wide})
    assert created.get_json() == {"code": 0, "message": "success"}
    detail = client.get(f"/v1/template-configs/{quote(wide)}")
    assert detail.status_code == 200 and detail.get_json()["template_id"] == wide
    deleted = client.delete(f"/v1/template-configs/{quote(wide)}")
    assert deleted.get_json() == {"code": 0, "message": "success"}
    too_long = client.delete(f"/v1/template-configs/{quote(wide * 4)}")
    assert_error(too_long, 400, 3002, "templateId: length 160 is over the maximum of 128")
