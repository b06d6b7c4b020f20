"""OTP behaviour the schema cannot express, as explicit tests.

Tests that need the delivered code or time travel run against the mock only; tests that send
need the mock or `--allow-send-to`. The order spends as few real sends as possible: one shared
message serves the resend and wrong-code tests.
"""

from __future__ import annotations

import base64

import pytest

from otp_mock_contracts.flows import Flows
from otp_mock_contracts.run import ContractRun

UNKNOWN_MESSAGE_ID = "9" * 19


def test_unknown_message_id_gives_4001(contract_run: ContractRun) -> None:
    reply = contract_run.client.verify(UNKNOWN_MESSAGE_ID, "123456")
    reply.expect_error(400, 4001, f"verify_otp with the unknown message_id {UNKNOWN_MESSAGE_ID}")


def test_unknown_template_gives_4001_on_get_template(contract_run: ContractRun) -> None:
    missing = contract_run.options.template_prefix + "missing"
    contract_run.client.get_template(missing).expect_error(400, 4001, f"get_template {missing!r} (never created)")


def _bad_authorization(kind: str, contract_run: ContractRun) -> str | None:
    if kind == "missing":
        return None
    if kind == "malformed":
        return "Basic not-base64!"
    token = base64.b64encode(f"{contract_run.dev_key}:wrong-secret-for-this-test".encode()).decode()
    return f"Basic {token}"


@pytest.mark.parametrize("kind", ["missing", "malformed", "wrong-secret"])
def test_bad_credentials_give_2001(contract_run: ContractRun, kind: str) -> None:
    if kind == "wrong-secret" and not contract_run.target.checks_keys:
        pytest.skip("this mock accepts any credentials (no --keys-file), so a wrong secret cannot be refused")
    reply = contract_run.client.list_templates(auth=_bad_authorization(kind, contract_run))
    reply.expect_error(401, 2001, f"list_templates with {kind} credentials")


def test_unknown_template_gives_4001_on_send_otp(contract_run: ContractRun, flows: Flows) -> None:
    missing = contract_run.options.template_prefix + "missing"
    to = flows.recipient()
    reply = flows.guarded(lambda: contract_run.client.send_otp(to, missing))
    reply.expect_error(400, 4001, f"send_otp with the unknown template {missing!r}")


def test_resend_too_soon_gives_3004(contract_run: ContractRun, flows: Flows) -> None:
    _, to = flows.shared_message()
    again = flows.guarded(lambda: contract_run.client.send_otp(to, flows.template_id))
    again.expect_error(400, 3004, f"a second send_otp to {to} with {flows.template_id} while the first code is "
                                  "valid and unverified")


def test_wrong_code_gives_verified_false(contract_run: ContractRun, flows: Flows) -> None:
    message_id, _ = flows.shared_message()
    wrong = flows.wrong_code(message_id)
    reply = contract_run.client.verify(message_id, wrong)
    flows.count_wrong(message_id, reply)
    body = reply.expect_ok(f"verify_otp with a wrong code for {message_id}")
    assert body.get("verified") is False and body.get("message_id") == message_id, (
        f"verify_otp with the wrong code {wrong!r}: expected verified: false for {message_id}, got "
        f"{reply.describe()}\nReproduce with:\n    {reply.curl}")


def test_right_code_verifies_once_then_3003(contract_run: ContractRun, flows: Flows) -> None:
    flows.require_mock("the delivered code (/_mock/messages/latest)")
    message_id = flows.send_otp(flows.recipient())
    code = flows.code_of(message_id)
    first = contract_run.client.verify(message_id, code)
    body = first.expect_ok(f"verify_otp with the right code for {message_id}")
    assert body.get("verified") is True, (f"verify_otp with the right code: expected verified: true, got "
                                          f"{first.describe()}\nReproduce with:\n    {first.curl}")
    second = contract_run.client.verify(message_id, code)
    second.expect_error(400, 3003, f"verify_otp of the right code a second time (message {message_id}): a code "
                                   "verifies once")


def test_expired_code_gives_3003(contract_run: ContractRun, flows: Flows) -> None:
    flows.require_mock("time travel (/_mock/clock)")
    message_id = flows.send_otp(flows.recipient())
    code = flows.code_of(message_id)
    flows.advance_clock(flows.ttl_seconds() + 1)
    reply = contract_run.client.verify(message_id, code)
    reply.expect_error(400, 3003, f"verify_otp of the right code after its TTL ({flows.ttl_seconds()} s) passed")
