"""OTP Mock Kit: a contract-driven, stateful mock of the EngageLab OTP API.

    >>> from mockserver import OtpMock
    >>> mock = OtpMock({"seed": 1})
    >>> mock.handle("GET", "/_mock/health").status
    200

Importing the package loads nothing heavy: each name below is imported on first use, so the
pure core (`mockserver.otp`, `mockserver.store`, ...) loads without Flask.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockserver.lazy import lazy_exports

if TYPE_CHECKING:
    from mockserver.app import create_app
    from mockserver.callbacks.signing import verify_callback_id
    from mockserver.config import Settings
    from mockserver.contract import Contract, default_spec_path
    from mockserver.errors import ApiError, ConfigError, ContractError, ContractViolation, ControlError, MockError
    from mockserver.events import StreamEvent
    from mockserver.mock import OtpMock
    from mockserver.pipeline import ApiReply
    from mockserver.views import SentMessage

__all__ = [
    "ApiError",
    "ApiReply",
    "ConfigError",
    "Contract",
    "ContractError",
    "ContractViolation",
    "ControlError",
    "MockError",
    "OtpMock",
    "SentMessage",
    "Settings",
    "StreamEvent",
    "create_app",
    "default_spec_path",
    "verify_callback_id",
]
__version__ = "0.1.0"

_LAZY = {
    "ApiError": "mockserver.errors",
    "ApiReply": "mockserver.pipeline",
    "ConfigError": "mockserver.errors",
    "Contract": "mockserver.contract",
    "ContractError": "mockserver.errors",
    "ContractViolation": "mockserver.errors",
    "ControlError": "mockserver.errors",
    "MockError": "mockserver.errors",
    "OtpMock": "mockserver.mock",
    "SentMessage": "mockserver.views",
    "Settings": "mockserver.config",
    "StreamEvent": "mockserver.events",
    "create_app": "mockserver.app",
    "default_spec_path": "mockserver.contract",
    "verify_callback_id": "mockserver.callbacks.signing",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
