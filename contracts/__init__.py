"""Contract suites: check the mock, a staging server or the real EngageLab OTP API against
openapi.yaml with schemathesis, plus the OTP behaviour a schema cannot express.

    >>> from contracts import RunOptions, run_contract
    >>> run_contract(RunOptions()).exit_code      # the mock, in-process
    0

The command is `otp-mock contract` (`contracts.cli:contract`); the suites also run as
`pytest contracts/` with `--contract-*` options. Importing this package is cheap: schemathesis,
pytest and requests (the `contract` extra) load only when a run starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from contracts.options import OptionsError, RunOptions

if TYPE_CHECKING:
    from contracts.runner import RunResult, run_contract
    from contracts.target import TargetError

__all__ = ["OptionsError", "RunOptions", "RunResult", "TargetError", "run_contract"]
_LAZY = {"RunResult": "contracts.runner", "run_contract": "contracts.runner", "TargetError": "contracts.target"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'contracts' has no attribute {name!r}")
