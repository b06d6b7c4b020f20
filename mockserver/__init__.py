"""OTP Mock Kit: a contract-driven, stateful mock of the EngageLab OTP API.

    >>> from mockserver import create_app
    >>> app = create_app({"seed": 1})
"""

from mockserver.app import create_app
from mockserver.config import Settings
from mockserver.contract import Contract
from mockserver.errors import ApiError, ConfigError, ContractError, ContractViolation, MockError

__all__ = [
    "ApiError",
    "ConfigError",
    "Contract",
    "ContractError",
    "ContractViolation",
    "MockError",
    "Settings",
    "create_app",
]
__version__ = "0.1.0"
