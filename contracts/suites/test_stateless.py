"""Every operation of the contract with positive and negative data, through every check of
`otp_mock_contracts.checks` (schemathesis's built-in ones tuned for this API, plus this API's own)."""

from __future__ import annotations

from typing import Any

from schemathesis import Case

from otp_mock_contracts.runtime import current

run = current()
schema = run.schema


@schema.parametrize()
@run.hypothesis_settings()
def test_operation(case: Case[Any]) -> None:
    run.run_case(case)
