"""Signed callbacks to a real HTTP receiver on 127.0.0.1: every body against the contract's
`webhooks` schemas, the X-CALLBACK-ID signature recomputed here, the order of a message's events,
retries (down, slow, 500, then recovering), the delivery log, resend, recover, trigger, batching,
and secrets that never show."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from receiver import Receiver, readme_receiver, receiver

from conftest import SPEC
from mockserver import verify_callback_id
from mockserver.callbacks.rows import EVENT_KIND, KINDS
from mockserver.contract import Contract
from mockserver.mock import OtpMock
from mockserver.web.workers import free_port

KEY, SECRET_KEY = "hooks", "pw"
USERNAME, SECRET = "otp-hook", "hook-s3cret-value"
FAST = {"seed": 5, "callback_retry_seconds": "0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1,0.1",
        "callback_linger_seconds": 0.02, "callback_timeout_seconds": 0.5, "callback_targets": "loopback"}
JSON = {"Content-Type": "application/json"}
SCHEMAS = {kind: Contract.load(SPEC).validator(f"/components/schemas/{schema}") for kind, schema in KINDS.items()}
KIND_OF_SCHEMA = {"message_status": "message_status", "notification": "notification",
                  "response": "message_response", "system_event": "system_event"}


def api(mock: OtpMock, path: str, body: dict[str, Any]) -> Any:
    auth = "Basic " + base64.b64encode(f"{KEY}:{SECRET_KEY}".encode()).decode()
    reply = mock.handle("POST", path, {"Authorization": auth, **JSON}, json.dumps(body).encode())
    assert reply.status == 200, reply.body
    return reply.body


def control(mock: OtpMock, method: str, path: str, body: Any = None, query: str = "") -> Any:
    reply = mock.handle(method, path, JSON, b"" if body is None else json.dumps(body).encode(), query=query)
    return reply.status, reply.body


def send(mock: OtpMock, to: str = "+6591234567") -> str:
    return str(api(mock, "/v1/messages", {"to": to, "template": {"id": "test-template-1"}})["message_id"])


def verify(mock: OtpMock, message_id: str, code: str) -> Any:
    return api(mock, "/v1/verifications", {"message_id": message_id, "verify_code": code})


@pytest.fixture
def mock() -> Iterator[OtpMock]:
    made = OtpMock(FAST)
    yield made
    made.close()


@pytest.fixture
def hook(mock: OtpMock) -> Iterator[tuple[Receiver, str]]:
    with receiver() as (got, url):
        status, shown = control(mock, "PUT", "/_mock/callbacks",
                                {"url": url, "username": USERNAME, "secret": SECRET, "authorization": "Bearer tok-1"})
        assert status == 200 and shown["probe"]["ok"] is True, shown
        yield got, url


def kind_of(body: dict[str, Any]) -> str:
    row = body["rows"][0]
    if "status" in row:
        return "message_status"
    return next(KIND_OF_SCHEMA[k] for k in ("notification", "response", "system_event") if k in row)


def check_body_and_signature(post: Any) -> None:
    errors = [e.message for e in SCHEMAS[kind_of(post.body)].iter_errors(post.body)]
    assert errors == [], post.body
    assert post.body["total"] == len(post.body["rows"])
    fields = dict(part.split("=", 1) for part in post.headers["X-CALLBACK-ID"].split(";"))
    assert list(fields) == ["timestamp", "nonce", "username", "signature"] and fields["username"] == USERNAME
    expected = hmac.new(SECRET.encode(), (fields["timestamp"] + fields["nonce"] + USERNAME).encode(),
                        hashlib.sha256).hexdigest()
    assert fields["signature"] == expected  # lowercase hex, recomputed independently
    assert abs(int(fields["timestamp"]) - time.time()) < 30  # real time, whatever the virtual clock says
    assert post.headers["Authorization"] == "Bearer tok-1"  # verbatim


def test_a_verified_message_reports_each_step_in_order_signed_and_valid(mock: OtpMock,
                                                                        hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    message_id = send(mock)
    code = mock.control.message(message_id).code
    assert code is not None and verify(mock, message_id, code)["verified"] is True
    got.wait(lambda: "verified" in got.statuses(message_id))
    assert got.statuses(message_id) == ["plan", "target_valid", "sent", "delivered", "verified"]
    for post in got.callbacks:
        check_body_and_signature(post)
    sent = next(r for r in got.rows() if r["status"]["message_status"] == "sent")
    assert sent["status"]["billing"]["currency"] == "USD" and sent["channel"] == "whatsapp"
    assert sent["status"]["status_data"]["current_send_channel"] == "whatsapp"
    nonces = [p.headers["X-CALLBACK-ID"].split(";")[1] for p in got.posts]
    assert len(set(nonces)) == len(nonces)  # one nonce per delivery attempt (the URL check's too)


def test_wrong_then_right_expired_and_failed_deliveries(mock: OtpMock, hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    twice = send(mock, "+6591230001")
    assert verify(mock, twice, "000000")["verified"] is False
    code = mock.control.message(twice).code
    assert code is not None and verify(mock, twice, code)["verified"] is True
    expired = send(mock, "+6591230002")
    failed = send(mock, "+12025550162")  # a magic recipient: delivery fails on every channel
    late = send(mock, "+6591230003")
    assert control(mock, "POST", f"/_mock/messages/{late}/fail-delivery", {"error_code": 5018})[0] == 200
    assert control(mock, "POST", "/_mock/clock", {"advance_seconds": 3600})[0] == 200  # past the code's expiry
    got.wait(lambda: "verified" in got.statuses(twice) and "verified_timeout" in got.statuses(expired)
             and "delivered_failed" in got.statuses(late) and "delivered_failed" in got.statuses(failed))
    assert got.statuses(twice) == ["plan", "target_valid", "sent", "delivered", "verified_failed", "verified"]
    assert got.statuses(expired) == ["plan", "target_valid", "sent", "delivered", "verified_timeout"]
    assert got.statuses(failed)[:2] == ["plan", "target_valid"] and got.statuses(failed)[-1] == "delivered_failed"
    assert got.statuses(late) == ["plan", "target_valid", "sent", "delivered", "delivered_failed"]
    failure = [r for r in got.rows() if r.get("message_id") == late][-1]["status"]
    assert failure["error_code"] == 5018 and failure["error_detail"]["message"]
    for post in got.callbacks:
        check_body_and_signature(post)


def test_a_fallback_reports_the_failed_channel_then_the_next(mock: OtpMock, hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    assert control(mock, "PUT", "/_mock/scenario", {"name": "channel-fallback"})[0] == 200
    message_id = str(api(mock, "/v1/messages", {"to": "+6591230009", "template": {"id": "test-template-1"}})
                     ["message_id"])
    got.wait(lambda: "delivered" in got.statuses(message_id))
    rows = [r for r in got.rows() if r["message_id"] == message_id]
    channels = [(r["status"]["message_status"], r["status"]["status_data"]["current_send_channel"]) for r in rows]
    assert channels.index(("delivered_failed", "whatsapp")) < channels.index(("delivered", "sms"))


def test_retries_when_the_receiver_is_down_failing_slow_then_back(mock: OtpMock) -> None:
    port = free_port("127.0.0.1")
    url = f"http://127.0.0.1:{port}/hook"
    status, shown = control(mock, "PUT", "/_mock/callbacks", {"url": url, "username": USERNAME, "secret": SECRET})
    assert status == 200 and shown["probe"]["ok"] is False and "refused" in shown["probe"]["error"]  # saved anyway
    ids = [send(mock, f"+659123400{i}") for i in range(3)]

    def attempts() -> list[dict[str, Any]]:
        return [a for d in mock.control.deliveries(limit=1000) for a in d["attempts"]]

    Receiver().wait(lambda: sum(a["error"] is not None and "refused" in a["error"] for a in attempts()) >= 3)
    got = Receiver()
    got.mode, got.slow_seconds = "fail", 1.0
    with receiver(port, into=got):
        got.wait(lambda: any(a["status"] == 500 for a in attempts()))
        got.mode = "slow"
        got.wait(lambda: any("timed out" in (a["error"] or "") for a in attempts()))
        got.mode = "ok"
        got.wait(lambda: all(d["status"] == "success" for d in mock.control.deliveries(limit=1000)), 15)
        for message_id in ids:  # every event arrived
            assert set(got.statuses(message_id)) == {"plan", "target_valid", "sent", "delivered"}
    for delivery in mock.control.deliveries(limit=1000):  # none twice as a success
        assert [a["ok"] for a in delivery["attempts"]].count(True) == 1, delivery
        assert all(a["trigger"] == "scheduled" for a in delivery["attempts"])
    answered = [a for a in attempts() if a["status"] == 500]
    assert answered[0]["response"] == '{"error": "receiver broke"}' and answered[0]["duration_ms"] >= 0


def test_an_exhausted_delivery_is_kept_failed_then_recovered_and_resent() -> None:
    mock = OtpMock({**FAST, "callback_retry_seconds": "0.05,0.05"})
    try:
        port = free_port("127.0.0.1")
        control(mock, "PUT", "/_mock/callbacks", {"url": f"http://127.0.0.1:{port}/", "probe": False})
        message_id = send(mock)
        Receiver().wait(lambda: [d["status"] for d in mock.control.deliveries()] == ["failed"])
        failed = mock.control.deliveries(status="failed", message_id=message_id)[0]
        assert failed["attempt_count"] == 3 and failed["next_attempt_at"] is None  # the first and 2 retries
        with receiver(port) as (got, _):
            status, found = control(mock, "POST", "/_mock/callbacks/recover", {"since": time.time() - 60})
            assert status == 200 and found == {"recovered": 1, "ids": [failed["id"]]}
            got.wait(lambda: mock.control.deliveries()[0]["status"] == "success")
            recovered = mock.control.deliveries()[0]
            assert recovered["attempts"][0]["trigger"] == "manual" and recovered["attempts"][0]["ok"] is True
            status, resent = control(mock, "POST", f"/_mock/callbacks/deliveries/{failed['id']}/resend")
            assert status == 200 and resent["attempt_count"] == 5 and resent["attempts"][0]["trigger"] == "manual"
            assert len(got.callbacks) == 2 and got.callbacks[0].body == got.callbacks[1].body
        assert control(mock, "POST", "/_mock/callbacks/deliveries/nope/resend")[0] == 404
    finally:
        mock.close()


def test_a_clock_jump_makes_due_retries_go_now() -> None:
    mock = OtpMock({**FAST, "callback_retry_seconds": "3600"})
    try:
        with receiver() as (got, url):
            got.mode = "fail"
            control(mock, "PUT", "/_mock/callbacks", {"url": url, "probe": False})
            message_id = send(mock)
            got.wait(lambda: len(got.callbacks) == 1)
            got.mode = "ok"
            time.sleep(0.2)
            assert len(got.callbacks) == 1  # the retry is an hour away
            control(mock, "POST", "/_mock/clock", {"advance_seconds": 60})
            got.wait(lambda: len(got.callbacks) == 2, 5)
            first = mock.control.deliveries(message_id=message_id)[-1]
            assert first["status"] == "success" and first["attempt_count"] == 2
            assert got.callbacks[0].body == got.callbacks[1].body
    finally:
        mock.close()


def test_template_review_sends_a_template_audit_result(mock: OtpMock, hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    api(mock, "/v1/template-configs", {
        "template_id": "hook-tpl", "description": "d", "send_channel_strategy": "sms", "brand_name": "Hooks",
        "verify_code_config": {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5},
        "sms_config": {"template_type": 1, "template_default_config": {"contain_security": True}}})
    status, _ = control(mock, "POST", "/_mock/templates/hook-tpl/review",
                        {"dev_key": KEY, "status": 3, "audit_remark": "brand missing"})
    assert status == 200
    got.wait(lambda: any("notification" in r for r in got.rows()))
    notice = next(r for r in got.rows() if "notification" in r)["notification"]
    assert notice == {"event": "template_audit_result",
                      "notification_data": {"template_id": "hook-tpl", "status": 3, "audit_remark": "brand missing"}}
    for post in got.callbacks:
        check_body_and_signature(post)


def test_trigger_sends_every_row_type_of_the_contract(mock: OtpMock, hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    message_id = send(mock)
    for event in EVENT_KIND:
        status, made = control(mock, "POST", "/_mock/callbacks/trigger", {"event": event, "dev_key": KEY})
        assert status == 200 and made["origin"] == "trigger" and made["status"] == "pending", made
    status, made = control(mock, "POST", "/_mock/callbacks/trigger", {"event": "delivered_failed",
                                                                      "message_id": message_id})
    assert status == 200 and made["message_ids"] == [message_id]
    triggered = {e for d in mock.control.deliveries(limit=1000) if d["origin"] == "trigger" for e in d["events"]}
    assert triggered == set(EVENT_KIND)
    got.wait(lambda: all(d["status"] == "success" for d in mock.control.deliveries(limit=1000)))
    for post in got.callbacks:
        check_body_and_signature(post)
    assert any(r.get("response", {}).get("event") == "uplink_message" for r in got.rows())
    bad = control(mock, "POST", "/_mock/callbacks/trigger", {"event": "sent", "dev_key": KEY,
                                                             "override": {"itime": "yesterday"}})
    assert bad[0] == 400 and "MessageStatusCallback" in bad[1]["message"]
    assert control(mock, "POST", "/_mock/callbacks/trigger", {"event": "nope", "dev_key": KEY})[0] == 400


def test_rows_are_batched_by_size() -> None:
    mock = OtpMock({**FAST, "callback_batch_size": 3, "callback_linger_seconds": 0.5})
    try:
        with receiver() as (got, url):
            control(mock, "PUT", "/_mock/callbacks", {"url": url, "probe": False})
            ids = [send(mock, f"+659100000{i}") for i in range(4)]
            got.wait(lambda: sum(len(got.statuses(i)) for i in ids) == 16)
            assert max(p.body["total"] for p in got.callbacks) <= 3
            assert any(p.body["total"] == 3 for p in got.callbacks)  # rows of several sends in one envelope
    finally:
        mock.close()


def test_events_filter_and_a_dev_keys_own_configuration(mock: OtpMock) -> None:
    with receiver() as (everyone, url), receiver() as (own, own_url):
        control(mock, "PUT", "/_mock/callbacks", {"url": url, "probe": False, "events": ["delivered"]})
        control(mock, "PUT", "/_mock/callbacks", {"url": own_url, "probe": False, "dev_key": "other"})
        message_id = send(mock)
        other = "Basic " + base64.b64encode(b"other:pw").decode()
        reply = mock.handle("POST", "/v1/messages", {"Authorization": other, **JSON},
                            b'{"to": "+6591234000", "template": {"id": "test-template-1"}}')
        theirs = str(reply.body["message_id"])
        everyone.wait(lambda: everyone.statuses(message_id) == ["delivered"])
        own.wait(lambda: len(own.statuses(theirs)) == 4)
        assert everyone.statuses(theirs) == [] and own.statuses(message_id) == []
        assert control(mock, "GET", "/_mock/callbacks", query="dev_key=other")[1]["url"] == own_url
        assert control(mock, "DELETE", "/_mock/callbacks", query="dev_key=other")[0] == 200
        assert control(mock, "GET", "/_mock/callbacks", query="dev_key=other")[0] == 404


def test_bad_configurations_get_the_envelope(mock: OtpMock) -> None:
    for body in ({"url": "ftp://127.0.0.1/x"}, {"url": "http://127.0.0.1:8080/", "username": "u"},
                 {"url": "http://10.1.2.3/"}, {"url": "http://127.0.0.1:6379/"}, {"url": 5}, {},
                 {"url": "http://127.0.0.1:8080/", "events": ["nope"]}, {"url": "http://a.b/", "probe": "yes"}):
        status, reply = control(mock, "PUT", "/_mock/callbacks", body)
        assert status == 400 and set(reply) == {"code", "message"}, (body, reply)
    assert control(mock, "GET", "/_mock/callbacks/deliveries", query="status=odd")[0] == 400
    assert control(mock, "POST", "/_mock/callbacks/recover", {"since": "yesterday"})[0] == 400
    assert control(mock, "POST", "/_mock/callbacks/trigger", {"event": "sent", "dev_key": KEY})[0] == 409


def test_secrets_never_show(mock: OtpMock, hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    message_id = send(mock)
    got.wait(lambda: [d["status"] for d in mock.control.deliveries(message_id=message_id)] == ["success"])
    shown = json.dumps([control(mock, "GET", "/_mock/callbacks")[1], mock.control.deliveries(),
                        control(mock, "GET", "/_mock/events", query="limit=1000")[1],
                        control(mock, "GET", "/_mock/requests", query="plane=all")[1]])
    assert SECRET not in shown and "tok-1" not in shown
    assert "X-CALLBACK-ID" in shown and "Bearer ***" in shown


def test_verify_callback_id() -> None:
    stamp, nonce = str(int(time.time())), "123"
    good = hmac.new(b"s", f"{stamp}{nonce}u".encode(), hashlib.sha256).hexdigest()
    header = f"timestamp={stamp};nonce={nonce};username=u;signature={good}"
    assert verify_callback_id(header, "u", "s") is True
    assert verify_callback_id(header.replace(good, "0" * 64), "u", "s") is False  # tampered
    assert verify_callback_id(header, "u", "other") is False and verify_callback_id(header, "v", "s") is False
    old = str(int(time.time()) - 301)
    stale = hmac.new(b"s", f"{old}{nonce}u".encode(), hashlib.sha256).hexdigest()
    assert verify_callback_id(f"timestamp={old};nonce={nonce};username=u;signature={stale}", "u", "s") is False
    assert verify_callback_id(f"timestamp={old};nonce={nonce};username=u;signature={stale}", "u", "s",
                              tolerance=None) is True
    for broken in (None, "", "garbage", "timestamp=x;nonce=1;username=u;signature=0", "a=" * 2000):
        assert verify_callback_id(broken, "u", "s") is False


def test_the_readmes_flask_receiver_accepts_the_mocks_signature_and_refuses_a_forged_one() -> None:
    from mockserver.callbacks.signing import callback_id

    client, scope = readme_receiver()
    body = {"total": 1, "rows": [{"message_id": "1", "status": {"message_status": "sent"}}]}
    good = callback_id(scope["USERNAME"], scope["SECRET"])
    assert client.post("/hook", json=body, headers={"X-CALLBACK-ID": good}).status_code == 200
    forged = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert client.post("/hook", json=body, headers={"X-CALLBACK-ID": forged}).status_code == 401
    assert client.post("/hook", json=body).status_code == 401


def test_configuration_from_the_settings_and_a_callbacks_file(tmp_path: Any) -> None:
    with receiver() as (everyone, url), receiver() as (own, own_url):
        path = tmp_path / "callbacks.yaml"
        path.write_text(f"other:\n  url: {own_url}\n  username: o\n  secret: file-s3cret\n", encoding="utf-8")
        mock = OtpMock({**FAST, "callback_url": url, "callback_username": USERNAME, "callback_secret": SECRET,
                        "callbacks_file": str(path)})
        try:
            assert control(mock, "GET", "/_mock/callbacks")[1]["source"] == "settings"
            message_id = send(mock)  # the first request starts the sender
            everyone.wait(lambda: len(everyone.statuses(message_id)) == 4)
            check_body_and_signature_without_authorization(everyone.callbacks[0])
            other = "Basic " + base64.b64encode(b"other:pw").decode()
            reply = mock.handle("POST", "/v1/messages", {"Authorization": other, **JSON},
                                b'{"to": "+6591234001", "template": {"id": "test-template-1"}}')
            own.wait(lambda: len(own.statuses(str(reply.body["message_id"]))) == 4)
            assert verify_callback_id(own.callbacks[0].headers["X-CALLBACK-ID"], "o", "file-s3cret")
        finally:
            mock.close()


def check_body_and_signature_without_authorization(post: Any) -> None:
    assert "Authorization" not in post.headers
    assert verify_callback_id(post.headers["X-CALLBACK-ID"], USERNAME, SECRET)


def test_target_invalid_and_sent_failed_end_the_story(mock: OtpMock, hook: tuple[Receiver, str]) -> None:
    got, _ = hook
    invalid, unsent = send(mock, "+12025550160"), send(mock, "+12025550161")
    got.wait(lambda: bool(got.statuses(invalid)) and bool(got.statuses(unsent)))
    assert got.statuses(invalid) == ["plan", "target_invalid"]
    assert got.statuses(unsent) == ["plan", "target_valid", "sent_failed"]
    codes = {r["status"]["message_status"]: r["status"]["error_code"] for r in got.rows()}
    assert codes["target_invalid"] == 5011 and codes["sent_failed"] == 5001
    for post in got.callbacks:
        check_body_and_signature(post)


def test_the_url_check_wants_200_within_the_deadline(mock: OtpMock) -> None:
    with receiver() as (got, url):
        got.mode, got.slow_seconds = "slow", 1.0  # past callback_timeout_seconds (0.5 here; 3 s by default)
        status, shown = control(mock, "PUT", "/_mock/callbacks", {"url": url})
        assert status == 200 and shown["probe"]["ok"] is False and "timed out" in shown["probe"]["error"]
        assert shown["probe"]["duration_ms"] < 900 and got.posts[0].body == {}
        got.mode = "fail"
        status, shown = control(mock, "PUT", "/_mock/callbacks", {"url": url})
        assert status == 200 and shown["probe"] == {**shown["probe"], "ok": False, "status": 500}
        assert control(mock, "GET", "/_mock/callbacks")[1]["url"] == url  # saved all the same


def test_the_callback_routes_follow_the_access_model(tmp_path: Any) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {dev_key: team-a, dev_secret: pw-a}\n  - {dev_key: team-b, dev_secret: pw-b}\n",
                    encoding="utf-8")
    mock = OtpMock({**FAST, "keys_file": str(keys), "control_token": "tok"})
    as_a = {"Authorization": "Basic " + base64.b64encode(b"team-a:pw-a").decode(), **JSON}
    token = {"Authorization": "Bearer tok", **JSON}
    try:
        with receiver() as (got, url):
            assert mock.handle("GET", "/_mock/callbacks/deliveries").status == 401
            assert mock.handle("PUT", "/_mock/callbacks", JSON, json.dumps({"url": url}).encode()).status == 401
            put = mock.handle("PUT", "/_mock/callbacks", as_a, json.dumps({"url": url}).encode())
            assert put.status == 200 and put.body["dev_key"] == "team-a"  # its own, never everyone's
            assert mock.handle("GET", "/_mock/callbacks", token).status == 404
            other = json.dumps({"url": url, "dev_key": "team-b"}).encode()
            denied = mock.handle("PUT", "/_mock/callbacks", as_a, other)
            assert denied.status == 403
            mock.handle("PUT", "/_mock/callbacks", token, json.dumps({"url": url, "dev_key": "team-b"}).encode())
            for key, secret in (("team-a", "pw-a"), ("team-b", "pw-b")):
                auth = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
                assert mock.handle("POST", "/v1/messages", {"Authorization": auth, **JSON},
                                   b'{"to": "+6591234567", "template": {"id": "test-template-1"}}').status == 200
            got.wait(lambda: len(mock.control.deliveries()) == 2 and all(
                d["status"] == "success" for d in mock.control.deliveries()))
            mine = mock.handle("GET", "/_mock/callbacks/deliveries", as_a).body["deliveries"]
            assert [d["dev_key"] for d in mine] == ["team-a"]
            theirs = next(d["id"] for d in mock.control.deliveries() if d["dev_key"] == "team-b")
            assert mock.handle("POST", f"/_mock/callbacks/deliveries/{theirs}/resend", as_a).status == 404
            trigger = mock.handle("POST", "/_mock/callbacks/trigger", as_a, b'{"event": "account_login"}')
            assert trigger.status == 200 and trigger.body["dev_key"] == "team-a"
    finally:
        mock.close()
