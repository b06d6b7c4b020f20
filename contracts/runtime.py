"""The run the suites are part of. Test modules read it at import time, so the runner (or the
pytest plugin) sets it before collection and clears it afterwards."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from otp_mock_contracts.run import ContractRun

_preset: ContractRun | None = None
_active: ContractRun | None = None


def preset(run: ContractRun | None) -> None:
    """The run `otp-mock contract` prepared; the plugin adopts it instead of building one."""
    global _preset
    _preset = run


def take_preset() -> ContractRun | None:
    return _preset


def activate(run: ContractRun | None) -> None:
    global _active
    _active = run


def active() -> ContractRun | None:
    return _active


def current() -> ContractRun:
    """The active run, or an error that says how to start one."""
    if _active is None:
        raise RuntimeError("no contract run is active: run `otp-mock contract` or `pytest contracts/` "
                           "(the suites need the pytest plugin otp_mock_contracts.plugin)")
    return _active
