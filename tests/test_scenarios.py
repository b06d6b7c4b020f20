"""Scenarios in-process: rules, sequences, states, probability, choosing a scenario, isolation,
templating and magic values. Every reply is validated against the contract by `client`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from conftest import PHONE, Client
from test_api import assert_error

SEND = {"to": PHONE, "template": {"id": "test-template-1"}}


def scenario_dir(tmp_path: Path, **files: str) -> str:
    for name, text in files.items():
        (tmp_path / f"{name}.yaml").write_text(text, encoding="utf-8")
    return str(tmp_path)


def send(client: Client, key: str = "team-a", to: str = PHONE, **headers: str) -> Any:
    return client.post("/v1/messages", json={**SEND, "to": to}, key=key, headers=headers)


def statuses(replies: list[Any]) -> list[int | None]:
    """The error code of each reply, None for a success."""
    return [None if r.status_code == 200 else r.get_json()["code"] for r in replies]


# -- choosing a scenario -------------------------------------------------------------------------

def test_header_picks_a_scenario_for_one_request(client: Client) -> None:
    assert_error(send(client, **{"X-Mock-Scenario": "outage"}), 500, 1000, "internal")
    assert send(client).status_code == 200


def test_unknown_scenario_in_the_header_is_a_clear_3002(client: Client) -> None:
    assert_error(send(client, **{"X-Mock-Scenario": "outgae"}), 400, 3002, "unknown scenario 'outgae'")


@pytest.mark.parametrize(("operation", "path", "body", "code", "status"), [
    ("send_otp", "/v1/messages", SEND, 5013, 400),
    ("verify_otp", "/v1/verifications", {"message_id": "1", "verify_code": "1"}, 4001, 400),
    ("list_templates", "/v1/template-configs", None, 2004, 403),
])
def test_prefer_gives_one_documented_reply_once(client: Client, operation: str, path: str, body: Any,
                                                code: int, status: int) -> None:
    method = "GET" if body is None else "POST"
    reply = client.call(method, path, json=body, headers={"Prefer": f"code={code}"})
    assert_error(reply, status, code, "")
    assert client.call(method, path, json=body).get_json() != reply.get_json()  # once only


def test_prefer_refuses_a_code_the_operation_cannot_return(client: Client) -> None:
    reply = client.post("/v1/verifications", json={"message_id": "1", "verify_code": "1"},
                        headers={"Prefer": "code=5013"})
    assert_error(reply, 400, 3002, "not a documented error of verify_otp")


def test_run_time_switch_globally_and_back(client: Client) -> None:
    assert client.call("PUT", "/_mock/scenario", json={"name": "outage"}, key=None).status_code == 200
    assert_error(send(client), 500, 1000, "")
    assert client.call("PUT", "/_mock/scenario", json={"name": None}, key=None).status_code == 200
    assert send(client).status_code == 200


def test_run_time_switch_for_one_key_leaves_the_others(client: Client) -> None:
    client.call("PUT", "/_mock/scenario", json={"name": "outage", "dev_key": "ci-job-2"}, key=None)
    assert_error(send(client, key="ci-job-2"), 500, 1000, "")
    assert send(client, key="ci-job-1").status_code == 200
    active = client.get("/_mock/scenario", key=None).get_json()
    assert active == {"global": None, "keys": {"ci-job-2": "outage"}, "missing": []}


def test_two_keys_run_two_scenarios_at_once(client: Client) -> None:
    client.call("PUT", "/_mock/scenario", json={"name": "outage", "dev_key": "job-a"}, key=None)
    client.call("PUT", "/_mock/scenario", json={"name": "rate-limited", "dev_key": "job-b"}, key=None)
    assert statuses([send(client, key="job-a", to=f"+4477009001{i}") for i in range(2)]) == [1000, 1000]
    assert statuses([send(client, key="job-b", to=f"+4477009001{i}") for i in range(2)]) == [None, 3004]


def test_switch_to_an_unknown_scenario_is_404(client: Client) -> None:
    reply = client.call("PUT", "/_mock/scenario", json={"name": "nope"}, key=None)
    assert reply.status_code == 404 and "known:" in reply.get_json()["message"]


def test_scenario_list_has_descriptions_and_the_magic_table(client: Client) -> None:
    listed = client.get("/_mock/scenarios", key=None).get_json()
    names = {s["name"]: s for s in listed["scenarios"]}
    required = {"default", "errors", "slow-network", "flaky", "outage", "rate-limited", "short-expiry",
                "channel-fallback"}
    assert required <= set(names) and all(s["description"] for s in names.values())
    assert names["flaky"]["faults"] == ["connection_reset", "empty_reply", "truncated_json"]
    assert listed["errors"] == [] and listed["magic_values"]["enabled"] is True


@pytest.mark.parametrize("settings", [{"scenario": "outage"}])
def test_scenario_active_from_the_start(client: Client) -> None:
    assert_error(send(client), 500, 1000, "")


# -- rules -------------------------------------------------------------------------------------

SEQUENCE = """
name: seq
description: fail, fail, succeed, then realistic
rules:
  - operation: send_otp
    sequence: [{error: 1000}, {error: 5016}, {pass: true}]
"""


def test_sequence_then_realistic(make_client: Any, tmp_path: Path) -> None:
    client = make_client(scenarios_dir=scenario_dir(tmp_path, seq=SEQUENCE), scenario="seq")
    replies = [send(client, to=f"+4477009000{i}") for i in range(4)]
    assert statuses(replies) == [1000, 5016, None, None]


@pytest.mark.parametrize(("then", "expected"), [("repeat_last", [1000, 5016, 5016, 5016]),
                                                ("cycle", [1000, 5016, 1000, 5016])])
def test_sequence_endings(make_client: Any, tmp_path: Path, then: str, expected: list[int]) -> None:
    text = SEQUENCE.replace("{pass: true}]", "]") + f"    then: {then}\n"
    client = make_client(scenarios_dir=scenario_dir(tmp_path, seq=text), scenario="seq")
    assert statuses([send(client, to=f"+4477009000{i}") for i in range(4)]) == expected


def test_story_with_states_and_a_timed_outage(make_client: Any) -> None:
    client = make_client(scenario="login-story")
    message_id = send(client).get_json()["message_id"]
    verify = {"message_id": message_id, "verify_code": "wrong"}
    replies = [client.post("/v1/verifications", json=verify) for _ in range(3)]
    assert statuses(replies) == [None, None, 1000]
    assert_error(send(client, to="+447700900555"), 500, 1000, "")  # everything is down
    client.advance(29)
    assert_error(client.get("/v1/template-configs"), 500, 1000, "")
    client.advance(2)  # 30 seconds of virtual time later it is up again
    assert client.get("/v1/template-configs").status_code == 200


SEEDED = """
name: coin
description: half of the sends fail
rules:
  - operation: send_otp
    probability: 0.5
    reply: {error: 5016}
"""


def run_coin(make_client: Any, tmp_path: Path, seed: int) -> list[int | None]:
    client = make_client(scenarios_dir=scenario_dir(tmp_path, coin=SEEDED), scenario="coin", seed=seed)
    return statuses([send(client, to=f"+4477009002{i:02d}") for i in range(40)])


def test_probability_is_replayable_with_a_seed(make_client: Any, tmp_path: Path) -> None:
    first, again = run_coin(make_client, tmp_path, 7), run_coin(make_client, tmp_path, 7)
    assert first == again
    assert 10 <= first.count(5016) <= 30  # about half of 40
    assert run_coin(make_client, tmp_path, 8) != first


MATCHING = """
name: match
description: rules on recipient, template, body, headers, key and the n-th call
rules:
  - operation: send_otp
    when: {to_pattern: "^\\\\+44", template_id: sms-default}
    reply: {error: 5012}
  - operation: send_otp
    when: {body: {template.language: ja}}
    reply: {error: 5014}
  - operation: send_otp
    when: {headers: {X-Client: web}}
    reply: {error: 5015}
  - operation: send_otp
    when: {dev_key: vip}
    reply: {error: 5017}
  - operation: verify_otp
    when: {call: [2, 3]}
    reply: {error: 1000}
"""


def test_matching_on_each_condition(make_client: Any, tmp_path: Path) -> None:
    client = make_client(scenarios_dir=scenario_dir(tmp_path, match=MATCHING), scenario="match")
    uk = {"to": "+447700900001", "template": {"id": "sms-default"}}
    assert_error(client.post("/v1/messages", json=uk), 400, 5012, "")
    assert client.post("/v1/messages", json={**uk, "template": {"id": "whatsapp-default"}}).status_code == 200
    ja = {"to": "+6591230001", "template": {"id": "sms-default", "language": "ja"}}
    assert_error(client.post("/v1/messages", json=ja), 400, 5014, "")
    assert_error(send(client, to="+6591230002", **{"X-Client": "web"}), 400, 5015, "")
    assert_error(send(client, key="vip", to="+6591230003"), 400, 5017, "")
    verify = {"message_id": "1", "verify_code": "1"}
    assert statuses([client.post("/v1/verifications", json=verify) for _ in range(4)]) == [4001, 1000, 1000, 4001]


TEMPLATED = """
name: templated
description: explicit replies built from the request and Faker
rules:
  - operation: send_otp
    reply:
      status: 200
      body: {message_id: "{{id}}", send_channel: sms}
  - operation: verify_otp
    reply:
      status: 200
      body: {message_id: "{{request.body.message_id}}", verify_code: "{{request.body.verify_code}}", verified: true}
  - operation: get_template
    reply:
      status: 400
      body: {code: 4001, message: "config not exist: {{request.path.templateId}} ({{faker.first_name}})"}
"""


def test_explicit_replies_are_templated_and_replayable(make_client: Any, tmp_path: Path) -> None:
    folder = scenario_dir(tmp_path, templated=TEMPLATED)
    messages = []
    for _ in range(2):
        client = make_client(scenarios_dir=folder, scenario="templated", seed=3)
        sent = send(client).get_json()
        assert len(sent["message_id"]) == 19 and sent["send_channel"] == "sms"
        verified = client.post("/v1/verifications", json={"message_id": "77", "verify_code": "x1"}).get_json()
        assert verified == {"message_id": "77", "verify_code": "x1", "verified": True}
        messages.append(client.get("/v1/template-configs/abc").get_json()["message"])
    assert messages[0] == messages[1] and messages[0].startswith("config not exist: abc (")


def test_delay_in_process_is_measured(make_client: Any, tmp_path: Path) -> None:
    import time

    text = "name: slow\ndescription: d\nrules:\n  - operation: list_templates\n    delay: 0.3\n"
    client = make_client(scenarios_dir=scenario_dir(tmp_path, slow=text), scenario="slow")
    started = time.monotonic()
    assert client.get("/v1/template-configs").status_code == 200
    assert 0.3 <= time.monotonic() - started < 3  # generous: only proves the wait happened


# -- shipped scenarios ---------------------------------------------------------------------------

def test_channel_fallback_moves_delivery_to_sms(client: Client) -> None:
    reply = send(client, **{"X-Mock-Scenario": "channel-fallback"})
    assert reply.get_json()["send_channel"] == "whatsapp"  # the first channel, as EngageLab says
    message = client.get(f"/_mock/messages/{reply.get_json()['message_id']}", key=None).get_json()
    assert message["channel"] == "sms"
    trail = [(e["status"], e.get("detail")) for e in message["lifecycle"]][2:]
    assert trail == [("sent", "whatsapp"), ("delivered_failed", "whatsapp"), ("sent", "sms"), ("delivered", "sms")]


def test_short_expiry_expires_after_30_seconds(client: Client) -> None:
    message_id = send(client, **{"X-Mock-Scenario": "short-expiry"}).get_json()["message_id"]
    client.advance(31)
    assert_error(client.verify(message_id, client.code_of(message_id)), 400, 3003, "expired")


def test_rate_limited_lets_only_the_first_send_through(client: Client) -> None:
    header = {"X-Mock-Scenario": "rate-limited"}
    assert statuses([send(client, to=f"+4477009003{i}", **header) for i in range(3)]) == [None, 3004, 3004]


def test_reset_restarts_counters(client: Client) -> None:
    header = {"X-Mock-Scenario": "rate-limited"}
    send(client, to="+447700900301", **header)
    client.post("/_mock/reset", key=None, content_type="application/json")
    assert send(client, to="+447700900302", **header).status_code == 200


# -- magic values --------------------------------------------------------------------------------

def test_fixed_code_recipient(client: Client) -> None:
    message_id = send(client, to="+12025550199").get_json()["message_id"]
    assert client.code_of(message_id) == "123456"
    assert "123456" in client.get(f"/_mock/messages/{message_id}", key=None).get_json()["text"]
    assert client.verify(message_id, "123456").get_json()["verified"] is True


def test_expired_recipient(client: Client) -> None:
    message_id = send(client, to="+12025550133").get_json()["message_id"]
    assert_error(client.verify(message_id, client.code_of(message_id)), 400, 3003, "expired")


def test_wrong_code_recipient(client: Client) -> None:
    message_id = send(client, to="+12025550144").get_json()["message_id"]
    assert client.verify(message_id, "123456").get_json()["verified"] is False


@pytest.mark.parametrize("settings", [{"magic_values": False}])
def test_magic_values_can_be_turned_off(client: Client) -> None:
    assert send(client, to="+12025550113").status_code == 200


def test_magic_email_recipient(client: Client) -> None:
    body = {"to": "fail-5019@example.com", "template": {"id": "email-default"}}
    assert_error(client.post("/v1/messages", json=body), 400, 5019, "unsubscribed")


# -- X-Mock-Error without a scenario that reads it --------------------------------------------

def last_note(client: Client) -> Any:
    return client.get("/_mock/requests?limit=1", key=None).get_json()["requests"][0]["note"]


NO_SCENARIO = ("X-Mock-Error: 2002 ignored: no scenario is active; it needs the errors scenario (add "
               'X-Mock-Scenario: errors, or PUT /_mock/scenario {"name": "errors"}); Prefer: code=2002 works '
               "without one")


@pytest.mark.parametrize(("method", "path", "body"), [
    ("POST", "/v1/messages", SEND),  # journalled with the send's own write
    ("GET", "/v1/template-configs", None),  # journalled after the reply
])
def test_an_ignored_error_header_is_noted_in_the_reply_and_the_journal(client: Client, method: str, path: str,
                                                                        body: Any) -> None:
    reply = client.call(method, path, json=body, headers={"X-Mock-Error": "2002"})
    assert reply.status_code == 200  # realistic, as before
    assert reply.headers["X-Mock-Note"] == NO_SCENARIO
    assert last_note(client) == NO_SCENARIO


def test_an_error_header_the_scenario_reads_is_not_noted(client: Client) -> None:
    client.call("PUT", "/_mock/scenario", json={"name": "errors", "dev_key": "team-a"}, key=None)
    reply = send(client, **{"X-Mock-Error": "2002"})
    assert_error(reply, 401, 2002, "expired or disabled")
    assert "X-Mock-Note" not in reply.headers and last_note(client) is None
    assert "X-Mock-Note" not in send(client).headers  # no header, no note


@pytest.mark.parametrize(("headers", "status", "note"), [
    ({"X-Mock-Scenario": "outage"}, 500,
     "X-Mock-Error: 2002 ignored: scenario 'outage' does not read it; it needs the errors scenario"),
    ({"X-Mock-Scenario": "errors", "X-Mock-Error": "3004"}, 400,
     "X-Mock-Error: 3004 ignored: no rule of scenario 'errors' answers it for verify_otp; the documented errors "
     "of verify_otp are 1000, 2001, 2002, 2004, 3001, 3002, 3003, 4001"),
    ({"Prefer": "code=4001"}, 400, "X-Mock-Error: 2002 ignored: Prefer: code=4001 chose the reply"),
])
def test_the_note_says_why_the_error_header_was_ignored(client: Client, headers: dict[str, str], status: int,
                                                        note: str) -> None:
    reply = client.post("/v1/verifications", json={"message_id": "1", "verify_code": "1"},
                        headers={"X-Mock-Error": "2002", **headers})
    assert reply.status_code == status
    assert reply.headers["X-Mock-Note"].startswith(note), reply.headers["X-Mock-Note"]
    assert last_note(client) == reply.headers["X-Mock-Note"]


def test_the_note_carries_only_printable_ascii_of_the_header() -> None:
    from mockserver.scenarios.notes import shown

    assert shown("2002 \u00e9\x7f" + "9" * 40) == "2002 " + "9" * 17  # the first 24 characters, filtered


# -- texts that fit their situation -----------------------------------------------------------

SEND_3003 = "template or recipient not valid for this send"


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/messages", {"to": "+12025550103", "template": {"id": "test-template-1"}}),
    ("/v1/codes", {"to": "+12025550103", "template": {"id": "sms-default"}, "code": "123456"}),
    ("/v1/custom-messages", {"to": "fail-3003@example.com", "template": {"id": "email-default"},
                             "params": {"code": "123456"}}),
])
def test_a_send_refused_with_3003_says_why_a_send_is_refused(client: Client, path: str, body: Any) -> None:
    reply = client.post(path, json=body)
    assert_error(reply, 400, 3003, SEND_3003)
    assert "verify code" not in reply.get_json()["message"]


@pytest.mark.parametrize(("path", "body", "message"), [
    ("/v1/messages", SEND, SEND_3003),
    ("/v1/verifications", {"message_id": "1", "verify_code": "1"}, "verify code expired"),
    ("/v1/template-configs", None, "not contains any channel config"),
])
def test_a_forced_3003_has_the_text_of_its_operation(client: Client, path: str, body: Any, message: str) -> None:
    body = body or client.get("/v1/template-configs/sms-default").get_json()
    body = {**body, "template_id": "forced"} if path.startswith("/v1/template") else body
    reply = client.post(path, json=body, headers={"X-Mock-Scenario": "errors", "X-Mock-Error": "3003"})
    assert_error(reply, 400, 3003, message)


def test_rate_limited_never_claims_an_earlier_code_for_a_new_recipient(client: Client) -> None:
    header = {"X-Mock-Scenario": "rate-limited"}
    assert send(client, to="+447700900601", **header).status_code == 200
    refused = send(client, to="+447700900602", **header)  # never sent to before
    assert_error(refused, 400, 3004, "frequency limit: too many sends in a short time")
    assert "still valid" not in refused.get_json()["message"]


def test_the_realistic_3004_still_names_the_code_that_blocks(client: Client) -> None:
    assert send(client).status_code == 200
    assert_error(send(client), 400, 3004, "is still valid")


# -- regressions found in review ---------------------------------------------------------------

def test_magic_values_work_inside_a_pass_scenario(client: Client) -> None:
    assert_error(send(client, to="+12025550113", **{"X-Mock-Scenario": "channel-fallback"}), 400, 5013, "")


def test_wrong_code_recipient_refuses_even_the_shown_code(client: Client) -> None:
    message_id = send(client, to="+12025550144").get_json()["message_id"]
    assert client.verify(message_id, client.code_of(message_id)).get_json()["verified"] is False


def test_fixed_code_does_not_touch_caller_codes(client: Client) -> None:
    body = {"to": "+12025550199", "code": "4321", "template": {"id": "sms-default"}}
    message_id = client.post("/v1/codes", json=body).get_json()["message_id"]
    assert client.code_of(message_id) == "4321"


def test_unknown_scenario_on_list_templates_is_the_callers_mistake_in_the_catalogue(client: Client) -> None:
    """A mistake in the mock's own headers is the caller's (3002, which the contract lists for
    list_templates for this), not a server error of the mock (it answered 1000 before)."""
    assert_error(client.get("/v1/template-configs", headers={"X-Mock-Scenario": "nope"}), 400, 3002, "unknown")


ECHO = """
name: echo
description: a verify reply that echoes the request, and a templated header
rules:
  - operation: verify_otp
    reply:
      status: 200
      headers: {X-Request-Id: "{{id}}", X-Auth: "{{request.headers.authorization}}"}
      body: {message_id: "{{request.body.message_id}}", verify_code: "{{request.body.verify_code}}", verified: true}
"""


def test_explicit_replies_render_headers_and_never_leave_the_contract(make_client: Any, tmp_path: Path) -> None:
    client = make_client(scenarios_dir=scenario_dir(tmp_path, echo=ECHO), scenario="echo")
    ok = client.post("/v1/verifications", json={"message_id": "123", "verify_code": "9"})
    assert len(ok.headers["X-Request-Id"]) == 19 and ok.headers["X-Auth"] == ""  # no credentials echoed
    bad = client.post("/v1/verifications", json={"message_id": "abc", "verify_code": "9"})
    assert_error(bad, 500, 1000, "outside the contract for this request")


def test_editing_a_file_restarts_its_progress(make_client: Any, tmp_path: Path) -> None:
    import os
    import time

    path = tmp_path / "seq.yaml"
    path.write_text(SEQUENCE, encoding="utf-8")
    client = make_client(scenarios_dir=str(tmp_path), scenario="seq")
    assert statuses([send(client, to="+447700900401")]) == [1000]
    path.write_text(SEQUENCE.replace("5016", "5012"), encoding="utf-8")
    os.utime(path, (time.time() + 5, time.time() + 5))
    client.call("PUT", "/_mock/scenario", json={"name": "seq"}, key=None)  # a switch reloads at once
    assert statuses([send(client, to=f"+44770090041{i}") for i in range(2)]) == [1000, 5012]


def test_a_deleted_active_scenario_is_reported_missing(make_client: Any, tmp_path: Path) -> None:
    path = tmp_path / "gone.yaml"
    path.write_text("name: gone\ndescription: d\nrules:\n  - operation: '*'\n    reply: {error: 1000}\n")
    client = make_client(scenarios_dir=str(tmp_path), scenario="gone")
    path.unlink()
    client.get("/_mock/scenarios", key=None)  # forces a rescan
    assert client.get("/_mock/scenario", key=None).get_json()["missing"] == ["gone"]
    assert client.get("/v1/template-configs").status_code == 200  # realistic again


CYCLE = """
name: cycle
description: a 10 s outage every 20 s
initial_state: a
states:
  a: {duration_seconds: 10, then: b}
  b: {duration_seconds: 10, then: a}
rules:
  - operation: list_templates
    when: {state: b}
    reply: {error: 1000}
"""


def test_timed_states_survive_a_big_clock_jump(make_client: Any, tmp_path: Path) -> None:
    client = make_client(scenarios_dir=scenario_dir(tmp_path, cycle=CYCLE), scenario="cycle")
    assert client.get("/v1/template-configs").status_code == 200
    client.advance(20 * 50 + 5)  # 50 whole cycles and 5 s: still in state a
    assert [client.get("/v1/template-configs").status_code for _ in range(3)] == [200, 200, 200]
    client.advance(10)
    assert client.get("/v1/template-configs").status_code == 500


@pytest.mark.parametrize("settings", [{"resend_guard": ("send_otp", "send_custom_message")}])
def test_a_refused_batch_sends_nothing(client: Client) -> None:
    auth_template = {"id": "test-template-1", "params": {"code": "1234"}}
    client.post("/v1/custom-messages", json={"to": "+447700900501", "template": auth_template})
    both = {"to": ["+447700900502", "+447700900501"], "template": auth_template}
    reply = client.post("/v1/custom-messages", json=both)
    assert_error(reply, 400, 3004, "+447700900501")
    assert client.get("/_mock/messages?to=%2B447700900502", key=None).get_json()["messages"] == []
