"""The pytest plugin of the OTP Mock Kit (entry point `otp_mock`; `-p no:otp_mock` turns it off).

Fixtures: `otp_mock` (a fresh mock per test answering `requests` and httpx), `otp_mock_server`
(a served mock per session on a free loopback port, each test in a dev_key of its own),
`otp_clock` (the test's virtual clock, frozen with `otp_mock`) and `otp_no_network`. The
marker `@pytest.mark.otp_mock(scenario=..., seed=..., any setting...)` configures them (module,
class and function marks merge, the nearest wins). `--otp-mock-target=server` reruns the same
tests with `otp_mock` answering through a served mock over real HTTP; `--otp-mock-seed=N`
seeds every mock a test does not seed itself.

This module imports only pytest: the mock, `responses` and httpx load when a fixture is used.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from mockserver.testing._helpers import Helpers, OtpClock
    from mockserver.testing._mocker import OtpMocker
    from mockserver.testing._served import ServedKey, ServedMock

MOCKER_OPTIONS = ("base_urls", "passthrough", "sleep_delays")  # marker keywords that are not settings


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("otp-mock", "OTP Mock Kit")
    group.addoption("--otp-mock-target", choices=("inprocess", "server"), default="inprocess",
                    help="where the otp_mock fixture answers: in-process (default, no socket) or a served "
                         "mock over real HTTP (the same tests, unchanged)")
    group.addoption("--otp-mock-seed", type=int, default=None, metavar="N",
                    help="seed every OTP mock a test does not seed itself (replayable codes and draws)")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "otp_mock(scenario=None, seed=None, **settings): configure the otp_mock "
                                       "and otp_mock_server fixtures (also base_urls, passthrough, sleep_delays)")


def pytest_report_header(config: pytest.Config) -> str | None:
    target, seed = config.getoption("otp_mock_target"), config.getoption("otp_mock_seed")
    if target == "inprocess" and seed is None:
        return None
    return f"otp-mock: target={target}" + (f", seed={seed}" if seed is not None else "")


def _marked(request: pytest.FixtureRequest) -> dict[str, Any]:
    """The otp_mock marks of the test, broad to narrow (the nearest wins), over --otp-mock-seed."""
    seed = request.config.getoption("otp_mock_seed")
    merged: dict[str, Any] = {} if seed is None else {"seed": seed}
    for mark in reversed(list(request.node.iter_markers("otp_mock"))):
        if mark.args:
            raise pytest.UsageError(f"@pytest.mark.otp_mock takes keywords only (settings), got {mark.args!r}")
        merged.update(mark.kwargs)
    return merged


@pytest.fixture
def otp_mock(request: pytest.FixtureRequest) -> Iterator[OtpMocker]:
    """A fresh OTP mock for this test, answering `requests` and httpx calls to the API's URL."""
    from mockserver.otp.clock import ManualClock
    from mockserver.testing._mocker import OtpMocker

    values = _marked(request)
    options = {name: values.pop(name) for name in MOCKER_OPTIONS if name in values}
    if "base_urls" in options:
        options["base_urls"] = tuple(options["base_urls"])
    clock = ManualClock(time.time()) if "otp_clock" in request.fixturenames else None
    with OtpMocker(values, target=request.config.getoption("otp_mock_target"), clock=clock, **options) as mocker:
        yield mocker


class _Servers:
    """The session's served mocks, one per distinct set of settings (most sessions need one)."""

    def __init__(self) -> None:
        self.served: dict[str, ServedMock] = {}

    def get(self, settings: dict[str, Any]) -> ServedMock:
        from mockserver.testing._served import serve_in_thread

        key = repr(sorted(settings.items()))
        if key not in self.served:
            sleep = bool(settings.pop("sleep_delays", False))
            self.served[key] = serve_in_thread(settings, sleep_delays=sleep)
        return self.served[key]

    def close(self) -> None:
        for served in self.served.values():
            served.stop()


@pytest.fixture(scope="session")
def _otp_mock_servers() -> Iterator[_Servers]:
    servers = _Servers()
    yield servers
    servers.close()


@pytest.fixture
def otp_mock_server(request: pytest.FixtureRequest, _otp_mock_servers: _Servers) -> Iterator[ServedKey]:
    """The session's served mock, with a dev_key of this test's own: point the client at
    `base_url` with `auth`; the helpers see this key only; its state is reset afterwards."""
    values = _marked(request)
    scenario = values.pop("scenario", None)
    for name in ("base_urls", "passthrough"):
        values.pop(name, None)
    key = _otp_mock_servers.get(values).new_key()
    if scenario is not None:
        key.use_scenario(scenario)
    try:
        yield key
    finally:
        key.close()


@pytest.fixture
def otp_clock(request: pytest.FixtureRequest) -> OtpClock:
    """The virtual clock of the test's mock (`otp_mock`, or `otp_mock_server` when the test uses
    that one only): `advance(seconds=..., minutes=...)`, `now()`."""
    from mockserver.testing._helpers import OtpClock

    names = request.fixturenames
    served = "otp_mock_server" in names and "otp_mock" not in names
    helpers: Helpers = request.getfixturevalue("otp_mock_server" if served else "otp_mock")
    return OtpClock(helpers, frozen=not served)


@pytest.fixture
def otp_no_network() -> Iterator[None]:
    """No network for this test: connections and name lookups are refused, except to the
    served mocks of this process (so the same test passes with --otp-mock-target=server)."""
    from mockserver.testing._network import no_network

    with no_network():
        yield
