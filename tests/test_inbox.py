"""The inbox (`GET /_mock/inbox`), the console's live list read from the event stream, and the
message actions the console offers: expire now, make delivery fail."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import PHONE, Client, basic


def inbox(client: Client, after: int = 0, **query: Any) -> dict[str, Any]:
    args = "&".join(f"{k}={v}" for k, v in {"after": after, **query}.items())
    reply = client.get(f"/_mock/inbox?{args}", key=None)
    assert reply.status_code == 200, reply.get_json()
    return dict(reply.get_json())


def test_the_first_page_is_the_newest_messages_then_only_what_changed(client: Client) -> None:
    first = client.send(to="+6591000001").get_json()["message_id"]
    second = client.send(to="+6591000002").get_json()["message_id"]
    page = inbox(client)
    assert page["resync"] and [r["message_id"] for r in page["messages"]] == [second, first]
    row = page["messages"][0]
    assert row["template_name"].startswith("WhatsApp first") and row["code"] and row["cost"] == 0.004
    assert row["sent_at"] and row["virtual_at"] and row["dev_key"] == "team-a" and row["currency"] == "USD"
    quiet = inbox(client, page["cursor"])
    assert {k: quiet[k] for k in ("messages", "cursor", "resync")} == {"messages": [], "cursor": page["cursor"],
                                                                       "resync": False}
    assert quiet["clock"] == {"dev_key": None, "offset_seconds": 0.0, "now": page["clock"]["now"]}
    client.verify(first, client.code_of(first))
    later = inbox(client, page["cursor"])
    assert not later["resync"] and [(r["message_id"], r["status"]) for r in later["messages"]] == [(first, "verified")]
    assert later["messages"][0]["sent_at"] is None and later["messages"][0]["cost"] is None  # an update
    third = client.send(to="+6591000003").get_json()["message_id"]
    newest = inbox(client, later["cursor"])["messages"]
    assert [r["message_id"] for r in newest] == [third] and newest[0]["sent_at"] and newest[0]["cost"]


def test_a_flood_of_changes_gives_a_bounded_resync(client: Client) -> None:
    cursor = inbox(client)["cursor"]
    for n in range(30):
        client.send(to=f"+65910001{n:02d}")
    page = inbox(client, cursor, limit=5)
    assert page["resync"] and len(page["messages"]) == 5
    assert page["messages"][0]["to"] == "+6591000129"


def test_the_inbox_of_one_key_and_an_expiry_nobody_observed(client: Client) -> None:
    client.send(to="+6591000001")
    other = client.send(to="+6591000002", key="team-b").get_json()["message_id"]
    page = inbox(client, dev_key="team-b")
    assert [r["message_id"] for r in page["messages"]] == [other]
    client.advance(301)
    assert inbox(client, dev_key="team-b")["messages"][0]["status"] == "verified_timeout"


def test_a_fallback_costs_both_channels(client: Client) -> None:
    reply = client.post("/v1/messages", json={"to": "+6591000009", "template": {"id": "test-template-1"}},
                        headers={**basic(), "X-Mock-Scenario": "channel-fallback"})
    assert reply.status_code == 200
    row = inbox(client)["messages"][0]
    assert row["channel"] == "sms" and row["cost"] == pytest.approx(0.004 + 0.006)


@pytest.mark.parametrize("settings", [{"prices": ["sms=0.05", "whatsapp=0.01", "voice=0", "email=0"]}])
def test_prices_are_a_setting(client: Client) -> None:
    client.send(template="sms-default")
    assert inbox(client)["messages"][0]["cost"] == 0.05


def test_expire_now_records_the_timeout_and_verifying_gives_3003(client: Client) -> None:
    message_id = client.send().get_json()["message_id"]
    code = client.code_of(message_id)
    expired = client.post(f"/_mock/messages/{message_id}/expire", key=None, json={})
    assert expired.status_code == 200 and expired.get_json()["status"] == "verified_timeout"
    assert [s["status"] for s in expired.get_json()["lifecycle"]][-1] == "verified_timeout"
    assert client.verify(message_id, code).get_json()["code"] == 3003
    again = client.post(f"/_mock/messages/{message_id}/expire", key=None, json={})
    assert again.status_code == 409 and "expired already" in again.get_json()["message"]


def test_make_delivery_fail_records_delivered_failed(client: Client) -> None:
    message_id = client.send().get_json()["message_id"]
    failed = client.post(f"/_mock/messages/{message_id}/fail-delivery", key=None, json={})
    assert failed.status_code == 200
    assert failed.get_json()["lifecycle"][-1] == {**failed.get_json()["lifecycle"][-1], "status": "delivered_failed",
                                                 "detail": "whatsapp"}
    assert client.post(f"/_mock/messages/{message_id}/fail-delivery", key=None, json={}).status_code == 409
    verified = client.send(to="+6591000077").get_json()["message_id"]
    client.verify(verified, client.code_of(verified))
    refused = client.post(f"/_mock/messages/{verified}/fail-delivery", key=None, json={})
    assert refused.status_code == 409 and "verified" in refused.get_json()["message"]


def test_actions_on_an_unknown_message_are_404_and_need_json(client: Client) -> None:
    assert client.post("/_mock/messages/404/expire", key=None, json={}).status_code == 404
    message_id = client.send().get_json()["message_id"]
    form = client.post(f"/_mock/messages/{message_id}/expire", key=None, data=b"",
                       content_type="application/x-www-form-urlencoded")
    assert form.status_code == 400


def test_a_keys_credentials_act_on_its_own_messages_only(make_client: Any, tmp_path: Any) -> None:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {dev_key: team-a, dev_secret: pw-a}\n  - {dev_key: team-b, dev_secret: pw-b}\n")
    client = make_client(keys_file=str(keys))
    theirs = client.post("/v1/messages", key=None, headers=basic("team-b", "pw-b"),
                         json={"to": PHONE, "template": {"id": "test-template-1"}}).get_json()["message_id"]
    mine = basic("team-a", "pw-a")
    assert client.post(f"/_mock/messages/{theirs}/expire", key=None, headers=mine, json={}).status_code == 404
    page = client.get("/_mock/inbox", key=None, headers=mine).get_json()
    assert page["messages"] == []


def test_the_requests_that_named_a_message(client: Client) -> None:
    sent = client.send(to="+6591000009").get_json()["message_id"]
    client.verify(sent, "000000")
    client.send(to="+6591000010")
    named = client.get(f"/_mock/requests?message_id={sent}", key=None).get_json()["requests"]
    assert [(r["operation"], r["status"]) for r in named] == [("verify_otp", 200), ("send_otp", 200)]
    assert client.get("/_mock/requests?message_id=nope", key=None).status_code == 404


def test_the_index_lists_both_planes(client: Client) -> None:
    index = client.get("/", key=None, headers={"Accept": "application/json"}).get_json()
    assert {"method": "POST", "path": "/v1/messages", "operation": "send_otp",
            "summary": "Send an OTP generated by the platform"} in index["api"]
    assert {r["operation"] for r in index["control"]} >= {"inbox", "health", "index", "expire_message"}
    assert index["console"] == "/_mock/console/" and index["documents"]["contract"] == "/_mock/contract.json"
    missing = client.get("/v2/nothing", key=None).get_json()
    assert missing["code"] == 404 and "control plane is under /_mock/" in missing["message"]


def test_a_send_verified_within_one_poll_is_new_with_its_time_and_cost(client: Client) -> None:
    """Its last record is the verification, yet the reader never had the message: the page gives
    its send time and cost, and orders what is new by send time, not by the last change."""
    client.send(to="+6591000010")
    cursor = inbox(client)["cursor"]
    first = client.send(to="+6591000011").get_json()["message_id"]
    second = client.send(to="+6591000012").get_json()["message_id"]
    client.verify(first, client.code_of(first))
    page = inbox(client, cursor)
    assert not page["resync"] and [r["message_id"] for r in page["messages"]] == [second, first]
    row = page["messages"][1]
    assert row["status"] == "verified" and row["sent_at"] and row["cost"] == 0.004


def test_a_reset_makes_another_stream_and_its_readers_resync(client: Client) -> None:
    client.send(to="+6591000021")
    page = inbox(client)
    assert page["stream"] and inbox(client, page["cursor"], stream=page["stream"])["stream"] == page["stream"]
    assert client.post("/_mock/reset", key=None, json={}).status_code == 200
    after = inbox(client, page["cursor"], stream=page["stream"])
    assert after["stream"] != page["stream"] and after["resync"] and after["messages"] == []
    kept = client.send(to="+6591000022", key="team-b").get_json()["message_id"]
    client.send(to="+6591000023")
    before = inbox(client, stream=after["stream"])
    assert client.post("/_mock/reset", key=None, json={"dev_key": "team-a"}).status_code == 200
    later = inbox(client, before["cursor"], stream=before["stream"])  # one key's reset: every view starts over
    assert later["stream"] != before["stream"] and later["resync"]
    assert [r["message_id"] for r in later["messages"]] == [kept]


def test_a_cursor_before_the_oldest_record_kept_resyncs(make_client: Any) -> None:
    client = make_client(max_events=5)
    client.send(to="+6591000300")
    page = inbox(client)
    sent = [client.send(to=f"+65910003{n:02d}").get_json()["message_id"] for n in range(1, 7)]
    later = inbox(client, page["cursor"], stream=page["stream"])
    assert later["resync"]  # the 5 records kept do not hold every change since the cursor
    assert [r["message_id"] for r in later["messages"]][:6] == sent[::-1]


def test_a_failed_delivery_never_shows_as_timed_out(client: Client) -> None:
    client.send(to="+6591000030")
    cursor = inbox(client)["cursor"]
    message_id = client.send(to="+6591000031").get_json()["message_id"]
    assert client.post(f"/_mock/messages/{message_id}/fail-delivery", key=None, json={}).status_code == 200
    client.advance(400)  # past the code's lifetime
    row = inbox(client, cursor)["messages"][0]
    assert row["message_id"] == message_id and row["status"] == "delivered_failed"


def test_another_key_s_flood_is_no_flood_in_a_key_s_view(client: Client) -> None:
    client.send(to="+6591000041", key="quiet")
    page = inbox(client, dev_key="quiet")
    for n in range(40):  # team-a's records: far more than a 5-row page's worth
        client.send(to=f"+65910004{n:02d}")
    later = inbox(client, page["cursor"], dev_key="quiet", limit=5)
    assert not later["resync"] and later["messages"] == []


def test_a_stream_that_is_not_letters_and_digits_is_refused(client: Client) -> None:
    reply = client.get("/_mock/inbox?after=1&stream=%3Cscript%3E", key=None)
    assert reply.status_code == 400 and "stream" in reply.get_json()["message"]


def test_a_flood_page_shared_by_readers_is_never_older_than_a_reader_s_cursor(client: Client) -> None:
    """The tabs a flood outran share one page for a quarter of a second, but a reader already
    past it (a newer cursor from another page) gets a fresh one: an older one reads as a reset."""
    client.send(to="+6591000500")
    start = inbox(client)["cursor"]
    for n in range(30):
        client.send(to=f"+65910005{n + 1:02d}")
    shared = inbox(client, start, limit=5)
    assert shared["resync"]
    for n in range(30):
        client.send(to=f"+65910006{n:02d}")
    head = inbox(client)["cursor"]
    ahead = inbox(client, shared["cursor"] + 1, limit=5)  # within the quarter second the page is kept
    assert ahead["resync"] and ahead["cursor"] == head > shared["cursor"]
