"""Sequences driven by the contract's links: send_otp -> verify_otp, create_template -> get/delete.

On the mock every scenario starts from a clean state of the run's key, and every other step that
verifies a linked message carries the delivered code (read from the control plane): both
`verified: true` and `verified: false` are reached, and a second `verified: true` for one message
is caught by the `verify_once` check. Check failures are collected and raised at the end.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis.errors import Flaky
from schemathesis import Case, Response
from schemathesis.core.failures import FailureGroup

from otp_mock_contracts.runtime import current
from otp_mock_contracts.stateful import StatefulLog, with_root

run = current()
log = StatefulLog()
linked_schema, why_not = run.stateful_schema()

if linked_schema is not None:
    Machine = with_root(linked_schema.as_state_machine(), linked_schema, "create_template")

    class LinkedFlows(Machine):  # type: ignore[misc, valid-type]
        def setup(self) -> None:
            log.scenarios += 1
            self.steps = 0
            run.start_scenario()

        def before_call(self, case: Case[Any]) -> None:
            self.steps += 1
            log.steps += 1
            run.before_stateful_call(case, real_code=self.steps % 2 == 1)

        def validate_response(self, response: Response, case: Case[Any], additional_checks: Any = None,
                              **kwargs: Any) -> None:
            try:
                super().validate_response(response, case, additional_checks=run.checks, **kwargs)
            except FailureGroup as exc:
                log.record_failure(case.operation.label, exc)

    class TestLinkedFlows(LinkedFlows.TestCase):  # type: ignore[misc, name-defined]
        settings = run.stateful_settings()

        def runTest(self) -> None:
            try:
                super().runTest()
            except Flaky as exc:
                # Link steps draw true randomness, so Hypothesis may stop early; what ran still counts.
                log.stopped_early = f"{type(exc).__name__} after {log.scenarios} scenario(s)"
            run.results.stateful = log
            log.raise_failures()
            assert log.steps > 0, "the state machine made no request at all"

else:

    def test_linked_flows() -> None:
        pytest.skip(why_not)
