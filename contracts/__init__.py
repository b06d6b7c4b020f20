"""Contract suites: check the mock, a staging server or the real EngageLab OTP API against
openapi.yaml with schemathesis, plus the OTP behaviour a schema cannot express.

    >>> from otp_mock_contracts import RunOptions, run_contract
    >>> run_contract(RunOptions()).exit_code      # the mock, in-process
    0

The folder `contracts/` of the kit installs as the package `otp_mock_contracts` (a name of its
own: `contracts` is PyContracts' on PyPI). The command is `otp-mock contract`
(`otp_mock_contracts.cli:contract`); in a clone the suites also run as `pytest contracts/` with
`--contract-*` options. Importing this package is cheap: schemathesis,
pytest and requests (the `contract` extra) load only when a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from otp_mock_contracts.options import OptionsError, RunOptions

if TYPE_CHECKING:
    from otp_mock_contracts.runner import RunResult, run_contract
    from otp_mock_contracts.target import TargetError

__all__ = ["OptionsError", "RunOptions", "RunResult", "TargetError", "run_contract"]
_LAZY = {"RunResult": "otp_mock_contracts.runner", "run_contract": "otp_mock_contracts.runner",
         "TargetError": "otp_mock_contracts.target"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'otp_mock_contracts' has no attribute {name!r}")
