"""The OTP mock inside your Python tests: no server, no network, the same realistic mock.

    import requests
    from mockserver.testing import otp_mock

    with otp_mock(seed=7) as otp:
        auth = ("my-key", "my-secret")
        sent = requests.post("https://otp.api.engagelab.cc/v1/messages", auth=auth, timeout=5,
                             json={"to": "+6591234567", "template": {"id": "test-template-1"}}).json()
        code = otp.latest_code("+6591234567")
        checked = requests.post("https://otp.api.engagelab.cc/v1/verifications", auth=auth, timeout=5,
                                json={"message_id": sent["message_id"], "verify_code": code}).json()
        assert checked["verified"] and otp.calls[-1].operation == "verify_otp"

`otp_mock()` answers `requests` (through `responses`) and httpx (its default transports, or
`otp.httpx_transport()`); `serve_in_thread()` serves the mock on a loopback port for any other
client. The pytest plugin (`mockserver.testing.plugin`, registered with pytest11) gives the
fixtures `otp_mock`, `otp_mock_server`, `otp_clock` and `otp_no_network`, the marker
`@pytest.mark.otp_mock(...)` and the options `--otp-mock-target` and `--otp-mock-seed`.

Its errors are MockErrors (the kit's root exception): `MessageNotFound` (also a LookupError)
when no message went to a recipient, `NetworkBlocked` (also a RuntimeError) under `no_network`, `NotInProcess` (also an
AttributeError) when a key served by another process (`RemoteMock`: the shared server under
pytest-xdist, `--otp-mock-url`) is asked for its `mock` or `fail_next`.

The helpers (`latest_code`, `latest`, `messages`, `calls`, `use_scenario`, `fail_next`,
`advance_clock`, `now`, `set`, `reset`) and the fields of `Call` are a versioned surface:
within API_VERSION 1 they are only ever added to. Importing this package loads nothing
heavy; each name is imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mockserver.lazy import lazy_exports

if TYPE_CHECKING:
    from mockserver.testing._harness import Call
    from mockserver.testing._helpers import Helpers, MessageNotFound, OtpClock
    from mockserver.testing._mocker import OtpMocker, otp_mock
    from mockserver.testing._network import NetworkBlocked, no_network
    from mockserver.testing._remote import NotInProcess, RemoteMock
    from mockserver.testing._served import ServedKey, ServedMock, serve_in_thread
    from mockserver.testing._wire import DEFAULT_BASE_URL
    from mockserver.views import SentMessage

API_VERSION = 1

__all__ = [
    "API_VERSION",
    "DEFAULT_BASE_URL",
    "Call",
    "Helpers",
    "MessageNotFound",
    "NetworkBlocked",
    "NotInProcess",
    "OtpClock",
    "OtpMocker",
    "RemoteMock",
    "SentMessage",
    "ServedKey",
    "ServedMock",
    "no_network",
    "otp_mock",
    "serve_in_thread",
]

_LAZY = {
    "Call": "mockserver.testing._harness",
    "DEFAULT_BASE_URL": "mockserver.testing._wire",
    "Helpers": "mockserver.testing._helpers",
    "MessageNotFound": "mockserver.testing._helpers",
    "NetworkBlocked": "mockserver.testing._network",
    "NotInProcess": "mockserver.testing._remote",
    "OtpClock": "mockserver.testing._helpers",
    "OtpMocker": "mockserver.testing._mocker",
    "RemoteMock": "mockserver.testing._remote",
    "SentMessage": "mockserver.views",
    "ServedKey": "mockserver.testing._served",
    "ServedMock": "mockserver.testing._served",
    "no_network": "mockserver.testing._network",
    "otp_mock": "mockserver.testing._mocker",
    "serve_in_thread": "mockserver.testing._served",
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals(), __all__)
