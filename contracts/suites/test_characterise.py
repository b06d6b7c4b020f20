"""Characterisation (opt-in, `--characterise`): measure what EngageLab's documentation leaves
unknown, and report the values so the mock's settings can be set to match:

- how many wrong codes a message accepts before it is used up (`max_verify_attempts`);
- whether the frequency limit 3004 also applies to `/v1/codes` and `/v1/custom-messages`
  (`resend_guard`).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from otp_mock_contracts.client import Reply
from otp_mock_contracts.flows import Flows
from otp_mock_contracts.run import ContractRun
from otp_mock_contracts.runtime import current

ATTEMPT_LIMIT = 30  # stop counting here: a code that survives 30 wrong tries has no useful limit
CUSTOM_CODE = "123456"

pytestmark = pytest.mark.skipif(not current().options.characterise,
                                reason="opt-in: pass --characterise to measure the unknowns of the real API")


def suggest_settings(run: ContractRun) -> None:
    """The `otp-mock serve` flags that make the mock behave as measured."""
    measured = run.results.measurements
    flags = []
    if isinstance(measured.get("max_verify_attempts"), int):
        flags.append(f"--set max_verify_attempts={measured['max_verify_attempts']}")
    guarded = ["send_otp"] + [op for op in ("send_custom_code", "send_custom_message")
                              if measured.get(f"resend_guard.{op}") is True]
    if any(f"resend_guard.{op}" in measured for op in ("send_custom_code", "send_custom_message")):
        flags.append(f"--set resend_guard={','.join(guarded)}")
    run.results.measure("settings", " ".join(flags))


def test_wrong_attempts_allowed(contract_run: ContractRun, flows: Flows,
                                record_testsuite_property: Callable[[str, object], None]) -> None:
    spare = flows.spare_recipient()
    message_id, _ = (flows.send_otp(spare), spare) if spare else flows.shared_message()
    wrong = flows.wrong_code(message_id)
    wrong_so_far = flows.wrong_attempts.get(message_id, 0)
    measured: int | str = f"more than {ATTEMPT_LIMIT}"
    for _ in range(ATTEMPT_LIMIT):
        reply = contract_run.client.verify(message_id, wrong)
        if reply.status == 400 and reply.code == 3003:
            measured = wrong_so_far
            break
        body = reply.expect_ok(f"wrong code number {wrong_so_far + 1} for {message_id}")
        assert body.get("verified") is False, f"a wrong code verified: {reply.describe()}\n    {reply.curl}"
        wrong_so_far += 1
    contract_run.results.measure("max_verify_attempts", measured)
    record_testsuite_property("max_verify_attempts", measured)
    suggest_settings(contract_run)
    if flows.is_mock and isinstance(measured, int):
        # The mock reports its own limit per message; the measurement must agree with it.
        own = contract_run.client.message(message_id).expect_ok("reading the message back").get("max_attempts")
        assert own == measured, f"the mock says max_attempts={own}, but {measured} wrong codes used the code up"


def _send(contract_run: ContractRun, op: str, to: str, template_id: str) -> Reply:
    if op == "send_custom_code":
        return contract_run.client.send_custom_code(to, template_id, CUSTOM_CODE)
    return contract_run.client.send_custom_message(to, template_id, {"code": CUSTOM_CODE})


@pytest.mark.parametrize("op", ["send_custom_code", "send_custom_message"])
def test_resend_guard(contract_run: ContractRun, flows: Flows, op: str,
                      record_testsuite_property: Callable[[str, object], None]) -> None:
    to = flows.spare_recipient() or flows.recipient()
    first = flows.guarded(lambda: _send(contract_run, op, to, flows.template_id))
    if first.status == 400 and first.code == 3004:
        pytest.skip(f"inconclusive: the first {op} to {to} was already refused with 3004 (an earlier code to it is "
                    "still valid); pass a second --allow-send-to recipient")
    first.expect_ok(f"the first {op} to {to}")
    second = flows.guarded(lambda: _send(contract_run, op, to, flows.template_id))
    if second.status == 200:
        applies = False
    elif second.status == 400 and second.code == 3004:
        applies = True
    else:
        raise AssertionError(f"a second {op} to {to}: expected HTTP 200 or 400 with code 3004, got "
                             f"{second.describe()}\nReproduce with:\n    {second.curl}")
    contract_run.results.measure(f"resend_guard.{op}", applies)
    record_testsuite_property(f"resend_guard.{op}", applies)
    suggest_settings(contract_run)
