"""Who may use the control plane: the Host allow-list, changes only as JSON from an allowed
origin, the control token, and a key's Basic credentials scoped to that key's state."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import PHONE, Client, basic
from mockserver.access import cookie_name, cookie_value
from mockserver.mock import OtpMock

TOKEN = "t0ken-for-tests"


@pytest.fixture
def keys_file(tmp_path: Path) -> str:
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n  - {dev_key: team-a, dev_secret: pw-a}\n  - {dev_key: team-b, dev_secret: pw-b}\n",
                    encoding="utf-8")
    return str(path)


@pytest.fixture
def guarded(make_client: Any, keys_file: str) -> Client:
    """A mock with a keys file and a control token: nothing is open to anonymous callers."""
    return make_client(keys_file=keys_file, control_token=TOKEN)


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sent(client: Client, key: str, secret: str, to: str = PHONE) -> str:
    reply = client.post("/v1/messages", key=None, headers=basic(key, secret),
                        json={"to": to, "template": {"id": "test-template-1"}})
    assert reply.status_code == 200, reply.get_json()
    return str(reply.get_json()["message_id"])


# -- Host -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example", "evil.example:8090", "localhost.evil.example", "127.0.0.1.nip.io"])
def test_a_host_the_mock_does_not_answer_to_is_refused(client: Client, host: str) -> None:
    reply = client.get("/_mock/messages", key=None, headers={"Host": host})
    assert reply.status_code == 403 and reply.get_json()["code"] == 403
    assert "--allowed-host" in reply.get_json()["message"]


@pytest.mark.parametrize("host", ["[::1]evil.com", "[::1].evil.com:80", "127.0.0.1:80@evil.com", "localhost:99999",
                                  "127.0.0.1:8090/x"])
def test_a_malformed_host_names_no_host_the_mock_answers_to(host: str) -> None:
    """Forms no browser sends; read strictly, they are refused (the mock object, as a raw client sends them)."""
    reply = OtpMock({"seed": 1}).handle("GET", "/_mock/messages", {"Host": host})
    assert reply.status == 403, (host, reply.body)


@pytest.mark.parametrize("host", ["localhost", "localhost:8090", "127.0.0.1:8090", "[::1]:8090", "127.0.0.2"])
def test_loopback_hosts_are_answered(client: Client, host: str) -> None:
    assert client.get("/_mock/messages", key=None, headers={"Host": host}).status_code == 200


def test_allowed_hosts_add_names(make_client: Any) -> None:
    client = make_client(allowed_hosts=["mock.internal"])
    assert client.get("/_mock/messages", key=None, headers={"Host": "mock.internal:8090"}).status_code == 200
    assert client.get("/_mock/messages", key=None, headers={"Host": "other.internal"}).status_code == 403


def test_the_api_itself_answers_any_host(client: Client) -> None:
    """The Host check guards the control plane; the API keeps its Basic auth, as EngageLab's."""
    reply = client.post("/v1/messages", headers={**basic(), "Host": "otp.api.engagelab.cc"},
                        json={"to": PHONE, "template": {"id": "test-template-1"}})
    assert reply.status_code == 200


# -- changes: JSON only, from an allowed origin ---------------------------------------------------

def test_a_form_post_with_an_empty_body_cannot_reset(client: Client) -> None:
    message_id = client.send().get_json()["message_id"]
    for content_type in ("application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x", None):
        reply = client.post("/_mock/reset", key=None, data=b"", content_type=content_type)
        assert reply.status_code == 400 and "application/json" in reply.get_json()["message"], content_type
    assert client.get(f"/_mock/messages/{message_id}", key=None).status_code == 200  # nothing was reset


@pytest.mark.parametrize(("origin", "status"), [
    ("https://evil.example", 403), ("null", 403), ("http://localhost.evil.example", 403),
    ("http://127.0.0.1.nip.io", 403), ("http://evil.com\\@localhost", 403), ("http://localhost:abc", 403),
    ("http://localhost:99999", 403), ("http://user@localhost:5173", 403),
    ("http://localhost:5173", 200), ("http://127.0.0.1:3000", 200), ("https://[::1]:8443", 200),
])
def test_a_change_from_a_browser_needs_an_allowed_origin(client: Client, origin: str, status: int) -> None:
    reply = client.post("/_mock/clock", key=None, json={"advance_seconds": 1}, headers={"Origin": origin})
    assert reply.status_code == status, reply.get_json()


def test_control_origins_add_origins(make_client: Any) -> None:
    client = make_client(control_origins=["https://app.example.com"])
    headers = {"Origin": "https://app.example.com"}
    assert client.post("/_mock/clock", key=None, json={"advance_seconds": 1}, headers=headers).status_code == 200


@pytest.mark.parametrize(("headers", "status"), [
    ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}, 403),  # a foreign page's script
    ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Origin": "https://evil.example"}, 403),
    ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"}, 200),  # a link followed to the mock
    ({"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors", "Origin": "http://localhost:5173"}, 200),
    ({"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}, 200),
])
def test_a_script_of_another_site_cannot_even_read(client: Client, headers: dict[str, str], status: int) -> None:
    reply = client.get("/_mock/inbox?limit=500", key=None, headers=headers)
    assert reply.status_code == status, reply.get_json()
    assert client.get("/_mock/health", key=None, headers=headers).status_code == 200  # public routes stay public


# -- the token --------------------------------------------------------------------------------------

def test_with_a_token_anonymous_callers_get_only_the_public_routes(guarded: Client) -> None:
    for path in ("/_mock/messages", "/_mock/messages/latest?to=%2B6591234567", "/_mock/requests", "/_mock/events",
                 "/_mock/clock", "/_mock/scenario"):
        reply = guarded.get(path, key=None)
        assert reply.status_code == 401 and "token" in reply.get_json()["message"], path
    assert guarded.post("/_mock/reset", key=None, json={}).status_code == 401
    for path in ("/_mock/health", "/_mock/openapi.json", "/_mock/scenarios"):
        assert guarded.get(path, key=None).status_code == 200, path


def test_the_token_opens_everything_as_bearer_or_cookie(guarded: Client) -> None:
    message_id = sent(guarded, "team-a", "pw-a")
    assert guarded.get(f"/_mock/messages/{message_id}", key=None, headers=bearer()).status_code == 200
    guarded.raw.set_cookie("otp_mock_token", cookie_value(TOKEN))  # what the console's ?token= sets
    assert guarded.get(f"/_mock/messages/{message_id}", key=None).status_code == 200
    guarded.raw.set_cookie("otp_mock_token", TOKEN)  # the token itself never sits in the cookie jar
    assert guarded.get(f"/_mock/messages/{message_id}", key=None).status_code == 401
    guarded.raw.set_cookie("otp_mock_token", "wrong")
    assert guarded.get(f"/_mock/messages/{message_id}", key=None).status_code == 401


def test_the_cookie_is_per_port_and_moot_on_an_open_mock(client: Client) -> None:
    assert cookie_name("127.0.0.1:8090") == "otp_mock_token_8090" and cookie_name("[::1]:9000") == "otp_mock_token_9000"
    assert cookie_name("localhost") == "otp_mock_token" and cookie_name(None) == "otp_mock_token"
    client.raw.set_cookie("otp_mock_token", "from-another-mock")  # an open mock: a stale cookie changes nothing
    assert client.get("/_mock/messages", key=None).status_code == 200


def test_a_wrong_token_is_401(guarded: Client) -> None:
    reply = guarded.get("/_mock/messages", key=None, headers=bearer("nope"))
    assert reply.status_code == 401 and "wrong" in reply.get_json()["message"]


def test_a_token_is_made_up_for_a_keys_file_or_a_non_loopback_host(keys_file: str) -> None:
    from mockserver import Settings
    from mockserver.mock import control_token

    assert control_token(Settings()) is None
    assert control_token(Settings(host="0.0.0.0")) and control_token(Settings(keys_file=keys_file))
    assert control_token(Settings(host="0.0.0.0")) != control_token(Settings(host="0.0.0.0"))
    assert control_token(Settings(control_token="mine")) == "mine"


# -- a key's own state through its Basic credentials ----------------------------------------------

def test_a_keys_credentials_see_only_its_own_messages(guarded: Client) -> None:
    mine = sent(guarded, "team-a", "pw-a")
    theirs = sent(guarded, "team-b", "pw-b", to="+6598765432")
    a = basic("team-a", "pw-a")
    listed = guarded.get("/_mock/messages", key=None, headers=a).get_json()["messages"]
    assert [m["message_id"] for m in listed] == [mine]
    assert guarded.get(f"/_mock/messages/{mine}", key=None, headers=a).get_json()["code"]
    assert guarded.get(f"/_mock/messages/{theirs}", key=None, headers=a).status_code == 404  # as if not there
    assert guarded.get("/_mock/messages/latest?to=%2B6598765432", key=None, headers=a).status_code == 404
    assert guarded.get("/_mock/messages?dev_key=team-b", key=None, headers=a).status_code == 403
    events = guarded.get("/_mock/events", key=None, headers=a).get_json()["events"]
    assert events and {e["dev_key"] for e in events} == {"team-a"}
    journal = guarded.get("/_mock/requests", key=None, headers=a).get_json()["requests"]
    assert journal and {e["dev_key"] for e in journal} == {"team-a"}


def test_a_keys_credentials_change_only_its_own_state(guarded: Client) -> None:
    theirs = sent(guarded, "team-b", "pw-b")
    a = basic("team-a", "pw-a")
    assert guarded.post("/_mock/reset", key=None, headers=a, json={}).get_json()["reset"] == "team-a"
    assert guarded.post("/_mock/reset", key=None, headers=a, json={"dev_key": "team-b"}).status_code == 403
    clock = guarded.post("/_mock/clock", key=None, headers=a, json={"advance_seconds": 60}).get_json()
    assert clock["dev_key"] == "team-a"
    assert guarded.get(f"/_mock/messages/{theirs}", key=None, headers=bearer()).status_code == 200  # untouched
    for path in ("/_mock/events/claim", "/_mock/events/ack"):
        reply = guarded.post(path, key=None, headers=a, json={"consumer": "c", "ids": []})
        assert reply.status_code == 403, path


def test_wrong_basic_credentials_on_the_control_plane_are_401(guarded: Client) -> None:
    reply = guarded.get("/_mock/messages", key=None, headers=basic("team-a", "wrong"))
    assert reply.status_code == 401 and reply.get_json()["code"] == 401
