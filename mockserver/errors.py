"""Errors of the OTP mock, under one root.

    MockError                 root of everything the kit raises on purpose
    ├── ApiError              an answer of the imitated API: a documented code and a message
    ├── ControlError          a refused call of the control plane: an HTTP status and a message
    ├── ConfigError           a settings, keys or scenario file is wrong (names file and line)
    └── ContractError         openapi.yaml cannot be loaded or compiled
        └── ContractViolation a reply the mock was about to send breaks the contract
"""

from __future__ import annotations


class MockError(Exception):
    """Root of the kit's exceptions."""


class ApiError(MockError):
    """An error reply of the API: `{"code": code, "message": message}` with the code's status.

    The HTTP status is not stored here: it comes from the contract's catalogue
    (`x-error-codes`), so a code can never travel with the wrong status.
    """

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message

    def envelope(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message}


class ControlError(MockError):
    """A control-plane call that cannot be done: `{"code": status, "message": message}` with
    that HTTP status (the control plane is the mock's own, so its codes are HTTP statuses)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class ConfigError(MockError):
    """A configuration file or value is wrong; the message says where and how to fix it."""


class ContractError(MockError):
    """The contract cannot be loaded or compiled."""


class ContractViolation(ContractError):
    """A response that does not validate against the contract."""
