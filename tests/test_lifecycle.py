"""The OTP lifecycle through HTTP: expiry, attempts, the resend window, isolation per key,
rendered text, template review, and the control plane that steers them."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import PHONE, Client
from mockserver.otp.styles import STYLES
from test_api import SMS_TEMPLATE, assert_error

TTL = 5 * 60  # test-template-1's verify_code_ttl, in seconds


def sent(client: Client, **kwargs: Any) -> tuple[str, str]:
    message_id = client.send(**kwargs).get_json()["message_id"]
    return message_id, client.code_of(message_id)


def statuses(client: Client, message_id: str) -> list[str]:
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    return [event["status"] for event in message["lifecycle"]]


# -- expiry ------------------------------------------------------------------------------------

def test_code_verifies_just_before_expiry(client: Client) -> None:
    message_id, code = sent(client)
    client.advance(TTL - 1)
    assert client.verify(message_id, code).get_json()["verified"] is True


def test_code_expires_after_its_ttl(client: Client) -> None:
    message_id, code = sent(client)
    client.advance(TTL)
    assert_error(client.verify(message_id, code), 400, 3003, "expired")
    assert statuses(client, message_id)[-1] == "verified_timeout"


def test_control_plane_shows_timeout_before_anyone_verifies(client: Client) -> None:
    message_id, _ = sent(client)
    client.advance(TTL + 1)
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    assert message["status"] == "verified_timeout"
    assert statuses(client, message_id) == ["plan", "target_valid", "sent", "delivered", "verified_timeout"]


# -- attempts ----------------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [{"max_verify_attempts": 3}])
def test_attempts_are_counted_and_then_the_code_is_used_up(client: Client) -> None:
    message_id, code = sent(client)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(3):
        assert client.verify(message_id, wrong).get_json()["verified"] is False
    assert_error(client.verify(message_id, code), 400, 3003, "too many wrong attempts")
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    assert message["attempts"] == 3 and statuses(client, message_id).count("verified_failed") == 3


def test_right_code_after_some_wrong_ones(client: Client) -> None:
    message_id, code = sent(client)
    for _ in range(4):  # default limit is 5
        client.verify(message_id, "not-it")
    assert client.verify(message_id, code).get_json()["verified"] is True
    assert statuses(client, message_id)[-1] == "verified"


def test_a_code_verifies_only_once(client: Client) -> None:
    message_id, code = sent(client)
    assert client.verify(message_id, code).get_json()["verified"] is True
    assert_error(client.verify(message_id, code), 400, 3003, "already verified")


# -- the 3004 resend window --------------------------------------------------------------------

def test_resend_is_refused_then_allowed_after_expiry(client: Client) -> None:
    first, _ = sent(client)
    assert_error(client.send(), 400, 3004, "still valid")
    client.advance(TTL)
    second, _ = sent(client)
    assert second != first


def test_resend_is_allowed_after_verification(client: Client) -> None:
    message_id, code = sent(client)
    client.verify(message_id, code)
    assert client.send().status_code == 200


@pytest.mark.parametrize("settings", [{"max_verify_attempts": 1}])
def test_resend_is_allowed_once_the_code_is_used_up(client: Client) -> None:
    message_id, _ = sent(client)
    client.verify(message_id, "wrong")
    assert client.send().status_code == 200


def test_resend_window_is_per_template_and_recipient(client: Client) -> None:
    sent(client)
    assert client.send(to="+447700900123").status_code == 200
    assert client.send(template="sms-default").status_code == 200


def test_custom_codes_are_not_rate_limited_by_default(client: Client) -> None:
    body = {"to": PHONE, "code": "1234", "template": {"id": "sms-default"}}
    assert [client.post("/v1/codes", json=body).status_code for _ in range(2)] == [200, 200]


@pytest.mark.parametrize("settings", [{"resend_guard": ("send_otp", "send_custom_code"), "verify_custom_codes": True}])
def test_resend_guard_can_cover_custom_codes(client: Client) -> None:
    body = {"to": PHONE, "code": "1234", "template": {"id": "sms-default"}}
    assert client.post("/v1/codes", json=body).status_code == 200
    assert_error(client.post("/v1/codes", json=body), 400, 3004, "still valid")


# -- isolation per dev_key ---------------------------------------------------------------------

def test_keys_do_not_see_each_others_messages(client: Client) -> None:
    message_id, code = sent(client, key="team-a")
    assert_error(client.verify(message_id, code, key="team-b"), 400, 4001, "message not exist")
    assert client.send(key="team-b").status_code == 200  # no 3004 across keys


def test_keys_do_not_see_each_others_templates(client: Client) -> None:
    client.post("/v1/template-configs", json=SMS_TEMPLATE, key="team-a")
    assert_error(client.get("/v1/template-configs/login-sms", key="team-b"), 400, 4001, "config not exist")
    client.delete("/v1/template-configs/test-template-1", key="team-b")
    assert client.get("/v1/template-configs/test-template-1", key="team-a").status_code == 200


def test_clock_can_move_for_one_key_only(client: Client) -> None:
    a_id, a_code = sent(client, key="team-a")
    b_id, b_code = sent(client, key="team-b")
    client.advance(TTL, dev_key="team-a")
    assert_error(client.verify(a_id, a_code, key="team-a"), 400, 3003, "expired")
    assert client.verify(b_id, b_code, key="team-b").get_json()["verified"] is True


def test_reset_of_one_key_keeps_the_others(client: Client) -> None:
    a_id, _ = sent(client, key="team-a")
    b_id, b_code = sent(client, key="team-b")
    assert client.post("/_mock/reset", json={"dev_key": "team-a"}, key=None).get_json() == {"reset": "team-a"}
    assert_error(client.verify(a_id, "123456", key="team-a"), 400, 4001, "message not exist")
    assert client.verify(b_id, b_code, key="team-b").get_json()["verified"] is True


def test_full_reset_restores_the_starting_templates(client: Client) -> None:
    client.delete("/v1/template-configs/test-template-1")
    client.post("/_mock/reset", key=None, content_type="application/json")
    assert client.get("/v1/template-configs/test-template-1").status_code == 200


# -- rendered text -----------------------------------------------------------------------------

@pytest.mark.parametrize(("template", "language", "params", "expected"), [
    ("sms-default", "default", {},
     "[EngageLab] Your verification code is {code}. Do not share this code with anyone. It expires in 5 minutes."),
    ("sms-default", "es", {},
     "[EngageLab] Su código de verificación es {code}. No comparta este código con nadie. Caduca en 5 minutos."),
    ("test-template-1", "default", {},
     "[EngageLab] Your verification code is {code}. Do not share this code with anyone. It expires in 5 minutes."),
])
def test_rendered_text_of_default_styles(client: Client, template: str, language: str,
                                          params: dict[str, str], expected: str) -> None:
    message_id, code = sent(client, template=template, language=language, params=params)
    text = client.get(f"/_mock/messages/{message_id}", key=None).get_json()["text"]
    assert text == expected.format(code=code)


@pytest.mark.parametrize("language", sorted(STYLES))
def test_built_in_styles_bracket_the_brand_first_like_the_custom_contents(language: str) -> None:
    main = STYLES[language][0]
    assert main.startswith("【{{brand_name}}】" if language in ("zh_CN", "zh_HK", "ja") else "[{{brand_name}}] "), main


def test_both_channels_of_test_template_1_start_alike(client: Client) -> None:
    """WhatsApp renders the built-in style, SMS (after a fallback) the template's custom content."""
    texts = []
    for to, headers in ((PHONE, {}), ("+447700900777", {"X-Mock-Scenario": "channel-fallback"})):
        reply = client.post("/v1/messages", json={"to": to, "template": {"id": "test-template-1"}}, headers=headers)
        message = client.get(f"/_mock/messages/{reply.get_json()['message_id']}", key=None).get_json()
        texts.append((message["channel"], message["text"].replace(message["code"], "{code}")))
    assert [channel for channel, _ in texts] == ["whatsapp", "sms"]
    assert all(text.startswith("[EngageLab] Your verification code is {code}.") for _, text in texts), texts


def test_missing_params_stay_literal_and_given_ones_are_filled(client: Client) -> None:
    custom = {**SMS_TEMPLATE, "sms_config": {"template_type": 2, "template_custom_config": {
        "custom_sub_type": "authentication", "custom_content": "{{code}} for {{name}} at {{shop}}"}}}
    client.post("/v1/template-configs", json=custom)
    message_id, code = sent(client, template="login-sms", params={"name": "Ann"})
    assert client.get(f"/_mock/messages/{message_id}", key=None).get_json()["text"] == f"{code} for Ann at {{{{shop}}}}"


def test_email_uses_the_language_content_and_subject(client: Client) -> None:
    message_id, code = sent(client, to="ann@example.com", template="email-default", language="zh_CN")
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    assert message["channel"] == "email" and message["subject"] == "您的验证码"
    assert f"<b>{code}</b>" in message["text"] and "用户" in message["text"]
    assert len(code) == 8 and code.isalnum() and not any(c.islower() for c in code)  # type 5


def test_email_falls_back_to_default_content_and_params_override_presets(client: Client) -> None:
    message_id, code = sent(client, to="ann@example.com", template="email-default", language="ja",
                            params={"name": "Ann"})
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    assert message["subject"] == "Your verification code"
    assert message["text"].startswith("<p>Hi Ann,</p>") and f"<b>{code}</b>" in message["text"]


# -- template review ---------------------------------------------------------------------------

@pytest.mark.parametrize("settings", [{"template_review": "pending"}])
def test_pending_templates_cannot_send_until_approved(client: Client) -> None:
    client.post("/v1/template-configs", json=SMS_TEMPLATE)
    assert client.get("/v1/template-configs/login-sms").get_json()["status"] == 1
    assert_error(client.send(template="login-sms"), 400, 3003, "pending review")
    review = {"dev_key": "team-a", "status": 2}
    assert client.post("/_mock/templates/login-sms/review", json=review, key=None).status_code == 200
    assert client.send(template="login-sms").status_code == 200


def test_rejected_template_shows_its_remark(client: Client) -> None:
    client.post("/v1/template-configs", json=SMS_TEMPLATE)
    review = {"dev_key": "team-a", "status": 3, "audit_remark": "brand not registered"}
    client.post("/_mock/templates/login-sms/review", json=review, key=None)
    detail = client.get("/v1/template-configs/login-sms").get_json()
    assert (detail["status"], detail["audit_remark"]) == (3, "brand not registered")
    assert_error(client.send(template="login-sms"), 400, 3003, "rejected")


# -- control plane -----------------------------------------------------------------------------

def test_messages_are_listed_newest_first_and_filtered(client: Client) -> None:
    first, _ = sent(client)
    second, _ = sent(client, to="+447700900123")
    ids = [m["message_id"] for m in client.get("/_mock/messages", key=None).get_json()["messages"]]
    assert ids == [second, first]
    only = client.get("/_mock/messages?to=%2B447700900123", key=None).get_json()["messages"]
    assert [m["message_id"] for m in only] == [second]
    assert client.get("/_mock/messages?dev_key=team-b", key=None).get_json()["messages"] == []


def test_latest_needs_a_recipient_and_says_when_none(client: Client) -> None:
    assert client.get("/_mock/messages/latest", key=None).status_code == 400
    reply = client.get("/_mock/messages/latest?to=%2B10000000000", key=None)
    assert reply.status_code == 404 and "no message" in reply.get_json()["message"]


@pytest.mark.parametrize("query", ["to=%2B6591234567", "to=+6591234567", "to=%206591234567"])
def test_latest_reads_an_unencoded_plus_as_the_plus_it_was(client: Client, query: str) -> None:
    message_id, code = sent(client)
    latest = client.get(f"/_mock/messages/latest?{query}", key=None).get_json()
    assert (latest["message_id"], latest["code"], latest["to"]) == (message_id, code, PHONE)
    listed = client.get(f"/_mock/messages?{query}", key=None).get_json()["messages"]
    assert [m["message_id"] for m in listed] == [message_id]


def test_latest_without_a_message_says_how_to_send_a_plus(client: Client) -> None:
    reply = client.get("/_mock/messages/latest?to=+10000000000", key=None)
    assert reply.status_code == 404
    assert reply.get_json()["message"] == ("no message to ' 10000000000' nor to '+10000000000' (a '+' in a query "
                                           "string means a space: send it as %2B, ?to=%2B10000000000)")
    encoded = client.get("/_mock/messages/latest?to=%2B10000000000", key=None).get_json()["message"]
    assert encoded == "no message to '+10000000000'"


@pytest.mark.parametrize("body", [{"advance_seconds": -5}, {"advance_seconds": "5"}, {"advance_seconds": True}, {}])
def test_clock_refuses_bad_advances(client: Client, body: dict[str, Any]) -> None:
    reply = client.post("/_mock/clock", json=body, key=None)
    assert reply.status_code == 400 and "advance_seconds" in reply.get_json()["message"]


def test_journal_records_requests_without_secrets(client: Client) -> None:
    client.send()
    client.post("/v1/messages", json={"to": PHONE}, key="team-a")
    entries = client.get("/_mock/requests?limit=2", key=None).get_json()["requests"]
    seen = [(e["status"], e["code"], e["operation"]) for e in entries]
    assert seen == [(400, 3002, "send_otp"), (200, None, "send_otp")]
    assert all(e["dev_key"] == "team-a" and e["violations"] == [] for e in entries)
    assert "s3cret" not in str(entries)


def test_health_and_documents(client: Client) -> None:
    health = client.get("/_mock/health", key=None).get_json()
    assert health["status"] == "ok" and health["contract"]["operations"] == 8
    assert client.get("/_mock/openapi.json", key=None).get_json()["info"]["title"] == "OTP Mock Kit control plane"
    assert "x-error-codes" in client.get("/_mock/contract.json", key=None).get_json()
