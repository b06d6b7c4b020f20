"""The console's pages in-process (Flask's test client): who may open them, the token cookie,
the security headers, escaping on the server, `/` as HTML or JSON, the deep link."""

from __future__ import annotations

import base64
import html
import json
import re
import shlex
from pathlib import Path

from flask.testing import FlaskClient
from receiver import receiver

from mockserver.access import cookie_value
from mockserver.app import create_app

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
AUTH = {"Authorization": "Basic dGVhbTpwdw=="}  # team:pw


def _send(client: FlaskClient, to: str = "+6591234567", params: dict[str, str] | None = None,
          template_id: str = "sms-default") -> str:
    template = {"id": template_id, **({"params": params} if params else {})}
    reply = client.post("/v1/messages", json={"to": to, "template": template}, headers=AUTH)
    assert reply.status_code == 200, reply.json
    return str(reply.json["message_id"])


def test_root_is_the_inbox_for_a_browser_and_the_index_for_json() -> None:
    client = create_app({"seed": 3}).test_client()
    page = client.get("/", headers=HTML)
    assert page.status_code == 200 and page.mimetype == "text/html" and b"History Records" in page.data
    for accept in ({"Accept": "application/json"}, {"Accept": "*/*"}, {}):
        index = client.get("/", headers=accept)
        assert index.mimetype == "application/json" and index.json["console"] == "/_mock/console/", accept


def test_every_page_sends_a_strict_content_security_policy() -> None:
    client = create_app({"seed": 3}).test_client()
    message_id = _send(client)
    for path in ("/", "/_mock/console/", f"/_mock/console/messages/{message_id}", "/_mock/console/send",
                 "/_mock/console/verify", "/_mock/console/controls"):
        page = client.get(path, headers=HTML)
        assert page.status_code == 200, path
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert page.headers["Cache-Control"] == "no-store" and page.headers["X-Content-Type-Options"] == "nosniff"
        text = page.data.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"an inline script on {path}"
        assert " style=" not in text and "<style" not in text, f"an inline style on {path}"


def test_values_are_escaped_by_the_server() -> None:
    client = create_app({"seed": 3}).test_client()
    template = {"template_id": "<b>bold-id", "description": "<i>named</i>", "send_channel_strategy": "sms",
                "brand_name": "Acme", "verify_code_config": {"verify_code_type": 1, "verify_code_len": 6,
                                                             "verify_code_ttl": 5},
                "sms_config": {"template_type": 2, "template_custom_config": {
                    "custom_sub_type": "authentication", "custom_content": "Hi {{name}}, {{code}}"}}}
    assert client.post("/v1/template-configs", json=template, headers=AUTH).json["code"] == 0
    message_id = _send(client, "+6591230000", {"name": "<script>alert(1)</script>"}, "<b>bold-id")
    reply = client.post("/v1/messages", headers=AUTH, json={
        "to": "<img/src=x/onerror=alert(1)>@example.com", "template": {"id": "email-default",
                                                                       "params": {"name": "<b>x</b>"}}})
    assert reply.status_code == 200, reply.json
    inbox = client.get("/", headers=HTML).data.decode()
    assert "&lt;img/src=x/onerror=alert(1)&gt;@example.com" in inbox and "<img/src" not in inbox
    detail = client.get(f"/_mock/console/messages/{reply.json['message_id']}", headers=HTML).data.decode()
    assert "&lt;b&gt;x&lt;/b&gt;" in detail and "<b>x</b>" not in detail
    assert "&lt;i&gt;named&lt;/i&gt;" in inbox and "&lt;b&gt;bold-id" in inbox
    sms = client.get(f"/_mock/console/messages/{message_id}", headers=HTML).data.decode()
    assert "Hi &lt;script&gt;alert(1)&lt;/script&gt;," in sms and "<script>alert" not in sms


def test_a_token_in_the_address_becomes_a_strict_cookie() -> None:
    app = create_app({"seed": 3, "control_token": "t0ken-for-tests"})
    client = app.test_client()
    refused = client.get("/", headers=HTML)
    assert refused.status_code == 401 and b"/?token=TOKEN" in refused.data
    assert client.get("/?token=wrong", headers=HTML).status_code == 401
    taken = client.get("/_mock/console/?token=t0ken-for-tests&dev_key=team", headers=HTML)
    assert taken.status_code == 303 and taken.headers["Location"] == "/_mock/console/?dev_key=team"
    cookie = taken.headers["Set-Cookie"]
    assert f"otp_mock_token={cookie_value('t0ken-for-tests')}" in cookie and "t0ken-for-tests" not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    page = client.get("/_mock/console/?dev_key=team", headers=HTML)  # the test client keeps the cookie
    assert page.status_code == 200 and b"History Records" in page.data
    assert client.get("/_mock/inbox").status_code == 200  # the page's polls carry the same cookie


def test_a_page_for_a_host_the_mock_does_not_answer_to_is_refused() -> None:
    client = create_app({"seed": 3}).test_client()
    refused = client.get("/_mock/console/", headers={**HTML, "Host": "attacker.example:8090"})
    assert refused.status_code == 403 and b"--allowed-host attacker.example" in refused.data
    assert client.get("/_mock/console/?token=x", headers={**HTML, "Host": "attacker.example"}).status_code == 403


def test_the_deep_link_opens_the_newest_message_to_a_recipient() -> None:
    client = create_app({"seed": 3}).test_client()
    _send(client, "+6591234567")
    newest = _send(client, "+6591234567", template_id="test-template-1")
    for raw in ("%2B6591234567", "+6591234567"):  # an unencoded + arrives as a space
        found = client.get(f"/_mock/console/latest?to={raw}", headers=HTML)
        assert found.status_code == 302 and found.headers["Location"] == f"/_mock/console/messages/{newest}", raw
    missing = client.get("/_mock/console/latest?to=%2B6500000000", headers=HTML)
    assert missing.status_code == 404 and b"+6500000000" in missing.data


def test_a_key_s_credentials_see_only_its_own_inbox() -> None:
    client = create_app({"seed": 3, "control_token": "t0ken-for-tests"}).test_client()
    own = _send(client)
    other = client.post("/v1/messages", json={"to": "+6591230009", "template": {"id": "sms-default"}},
                        headers={"Authorization": "Basic b3RoZXI6cHc="}).json["message_id"]  # other:pw
    page = client.get("/", headers={**HTML, **AUTH}).data.decode()
    assert own in page and other not in page
    assert client.get(f"/_mock/console/messages/{other}", headers={**HTML, **AUTH}).status_code == 404


def test_a_messages_detail_shows_its_callback_deliveries() -> None:
    app = create_app({"seed": 3, "callback_linger_seconds": 0.02, "callback_targets": "loopback"})
    client = app.test_client()
    try:
        with receiver() as (got, url):
            assert client.put("/_mock/callbacks", json={"url": url}).status_code == 200
            message_id = _send(client)
            control = app.mock.control  # type: ignore[attr-defined]
            got.wait(lambda: [d["status"] for d in control.deliveries(message_id=message_id)] == ["success"])
            page = client.get(f"/_mock/console/messages/{message_id}", headers=HTML).data.decode()
            section = page.split('id="deliveries-h"', 1)[1]
            assert "plan, target_valid, sent, delivered" in section and url in section and "success" in section
            assert ">200 " in section
    finally:
        app.mock.close()  # type: ignore[attr-defined]


def test_the_curl_command_quotes_a_hostile_dev_key() -> None:
    client = create_app({"seed": 3}).test_client()
    hostile = "a'$(touch /tmp/otp-mock-pwned)'b"
    reply = client.post("/v1/messages", json={"to": "+6591234599", "template": {"id": "sms-default"}},
                        headers={"Authorization": "Basic " + base64.b64encode(f"{hostile}:s".encode()).decode()})
    page = client.get(f"/_mock/console/messages/{reply.json['message_id']}", headers=HTML).data.decode()
    shown = html.unescape(re.search(r'<pre class="curl" id="curl">(.*?)</pre>', page, re.S).group(1))  # type: ignore[union-attr]
    words = shlex.split(shown)  # what a shell makes of it: the dev_key stays one word, nothing runs
    assert words[:4] == ["curl", "-sS", "-u", f"{hostile}:YOUR_DEV_SECRET"]
    assert words[-1] == "http://localhost/v1/verifications" and json.loads(words[-2])["message_id"]


def test_a_key_s_pages_name_no_other_key(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {dev_key: team, dev_secret: pw}\n  - {dev_key: secret-partner, dev_secret: pw2}\n")
    client = create_app({"seed": 3, "keys_file": str(keys), "control_token": "t0ken-for-tests"}).test_client()
    for path in ("/", "/_mock/console/send", "/_mock/console/verify", "/_mock/console/controls"):
        page = client.get(path, headers={**HTML, **AUTH})
        assert page.status_code == 200 and b"secret-partner" not in page.data and b'value="team"' in page.data, path
    full = client.get("/_mock/console/send", headers={**HTML, "Authorization": "Bearer t0ken-for-tests"})
    assert b"secret-partner" in full.data


def test_console_paths_flask_does_not_know_are_checked_and_guarded() -> None:
    client = create_app({"seed": 3}).test_client()
    assert client.get("/_mock/console//?token=abc", headers={**HTML, "Host": "evil.example"}).status_code == 403
    missing = client.get("/_mock/console//nowhere", headers=HTML)
    assert missing.status_code == 404 and "frame-ancestors 'none'" in missing.headers["Content-Security-Policy"]
