"""Deliveries that fail after the send was accepted: the magic recipients and the scenarios'
`fail_delivery` give target_invalid, sent_failed or delivered_failed (each with an error code) as
a message's last step; such a message neither verifies nor times out, and holds no resend window."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import Client
from test_api import assert_error

TTL = 5 * 60


def steps(client: Client, message_id: str) -> list[tuple[str, str, int]]:
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    return [(s["status"], s.get("detail", ""), s.get("error_code", 0)) for s in message["lifecycle"]]


@pytest.mark.parametrize(("to", "expected"), [
    ("+12025550160", [("plan", "", 0), ("target_invalid", "", 5011)]),
    ("+12025550161", [("plan", "", 0), ("target_valid", "", 0), ("sent_failed", "whatsapp", 5001)]),
    ("+12025550162", [("plan", "", 0), ("target_valid", "", 0), ("sent", "whatsapp", 0),
                      ("delivered_failed", "whatsapp", 5018), ("sent", "sms", 0), ("delivered_failed", "sms", 5018)]),
])
def test_magic_recipients_fail_their_delivery_after_a_successful_send(client: Client, to: str,
                                                                      expected: list[Any]) -> None:
    reply = client.send(to=to)
    assert reply.status_code == 200
    message_id = reply.get_json()["message_id"]
    assert steps(client, message_id) == expected
    code = client.code_of(message_id)
    assert_error(client.verify(message_id, code), 400, 3003, "never delivered")
    client.advance(TTL + 1)  # no timeout after a failed delivery: it ended there
    assert steps(client, message_id) == expected
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    assert message["status"] == expected[-1][0]


def test_a_failed_delivery_holds_no_resend_window(client: Client) -> None:
    assert client.send(to="+12025550160").status_code == 200
    assert client.send(to="+12025550160").status_code == 200  # not 3004: the first code reached nobody


def test_magic_delivery_failures_apply_to_every_send_operation(client: Client) -> None:
    reply = client.post("/v1/codes", json={"to": "+12025550161", "code": "4321", "template": {"id": "sms-default"}})
    message_id = reply.get_json()["message_id"]
    assert steps(client, message_id)[-1] == ("sent_failed", "sms", 5001)


@pytest.fixture
def settings(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "undeliverable.yaml").write_text(
        "name: undeliverable\ndescription: every delivery fails at the target\nrules:\n"
        "  - operation: [send_otp]\n    reply: {pass: {fail_delivery: {status: target_invalid, error: 5013}}}\n")
    (tmp_path / "bare.yaml").write_text(
        "name: bare\ndescription: sends fail\nrules:\n  - operation: send_otp\n"
        "    reply: {pass: {fail_delivery: sent_failed}}\n")
    (tmp_path / "channels.yaml").write_text(
        "name: channels\ndescription: whatsapp fails\nrules:\n  - operation: send_otp\n"
        "    reply: {pass: {fail_channels: [whatsapp]}}\n")
    return {"scenarios_dir": str(tmp_path)}


@pytest.mark.parametrize(("scenario", "last"), [
    ("undeliverable", ("target_invalid", "", 5013)),
    ("bare", ("sent_failed", "whatsapp", 5001)),
    ("channels", ("delivered", "sms", 0)),
])
def test_scenarios_fail_deliveries(client: Client, scenario: str, last: tuple[str, str, int]) -> None:
    message_id = client.post("/v1/messages", json={"to": "+6591234567", "template": {"id": "test-template-1"}},
                             headers={"X-Mock-Scenario": scenario}).get_json()["message_id"]
    found = steps(client, message_id)
    assert found[-1] == last
    if scenario == "channels":  # a fallback: the failed channel carries its error, then the next one
        assert ("delivered_failed", "whatsapp", 5012) in found


def test_a_scenario_naming_an_undocumented_error_is_refused(tmp_path: Path, make_client: Any) -> None:
    (tmp_path / "bad.yaml").write_text(
        "name: bad\ndescription: x\nrules:\n  - operation: send_otp\n"
        "    reply: {pass: {fail_delivery: {status: sent_failed, error: 9999}}}\n")
    listed = make_client(scenarios_dir=str(tmp_path)).get("/_mock/scenarios", key=None).get_json()
    assert "error 9999 is not a documented code" in listed["errors"][0]["message"]


def test_the_control_planes_fail_delivery_is_the_same_failed_delivery(client: Client) -> None:
    message_id = client.send().get_json()["message_id"]
    bad = client.post(f"/_mock/messages/{message_id}/fail-delivery", key=None, json={"error_code": 4242})
    assert bad.status_code == 400 and "error_code" in bad.get_json()["message"]
    failed = client.post(f"/_mock/messages/{message_id}/fail-delivery", key=None, json={})
    assert failed.status_code == 200 and steps(client, message_id)[-1] == ("delivered_failed", "whatsapp", 5012)
    again = client.post(f"/_mock/messages/{message_id}/fail-delivery", key=None, json={"error_code": 5018})
    assert again.status_code == 409 and "failed already" in again.get_json()["message"]
    assert_error(client.verify(message_id, client.code_of(message_id)), 400, 3003, "never delivered")
    client.advance(TTL + 1)  # neither verifies nor times out, as a magic recipient's
    assert steps(client, message_id)[-1][0] == "delivered_failed"
    magic = client.send(to="+12025550162").get_json()["message_id"]
    refused = client.post(f"/_mock/messages/{magic}/fail-delivery", key=None, json={})
    assert refused.status_code == 409  # one notion of a failed delivery: it failed already
