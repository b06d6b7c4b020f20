"""`otp_mock()`: the mock answering the OTP API's URL for `requests` and httpx, in-process (no
socket) or, with `target="server"`, through the served mock over real HTTP."""

from __future__ import annotations

import functools
import importlib.util
import inspect
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from mockserver.config import Settings
from mockserver.otp.clock import Clock
from mockserver.pipeline import ApiReply, ApiRequest
from mockserver.testing import _wire
from mockserver.testing._harness import Harness
from mockserver.testing._helpers import Helpers

if TYPE_CHECKING:
    import httpx
    import responses

    from mockserver.testing._httpx import Forwarder, ForwardingTransport, InProcessTransport
    from mockserver.testing._requests import RequestsInterceptor
    from mockserver.testing._served import ServedMock

TARGETS = ("inprocess", "server")
F = TypeVar("F", bound=Callable[..., Any])


class OtpMocker(Helpers):
    """The OTP API mocked for a test: a context manager (`with otp_mock() as otp:`) and a
    decorator (`@otp_mock(kw="otp")`). Each start builds a fresh mock."""

    def __init__(self, settings: Settings | Mapping[str, Any] | None = None, *, base_urls: tuple[str, ...] = (),
                 passthrough: bool = False, sleep_delays: bool = False, target: str = "inprocess",
                 clock: Clock | None = None, kw: str | None = None) -> None:
        if target not in TARGETS:
            raise ValueError(f"target: expected inprocess or server, got {target!r}")
        self.settings = settings if isinstance(settings, Settings) else Settings.from_mapping(settings or {})
        self.base_urls = tuple(dict.fromkeys((_wire.DEFAULT_BASE_URL, *(u.rstrip("/") for u in base_urls))))
        self.sleep_delays = sleep_delays
        self.target = target
        self.clock = clock
        self.kw = kw
        self._passthrough = passthrough
        self._state: Harness | None = None
        self._served: ServedMock | None = None
        self._requests: RequestsInterceptor | None = None
        self._route_to: InProcessTransport | Forwarder | None = None  # for httpx clients of their own

    @property
    def base_url(self) -> str:
        """The URL the client calls (the real API's): intercepted in both targets."""
        return self.base_urls[0]

    @property
    def served_url(self) -> str | None:
        """Where the served mock listens with `target="server"` (else None)."""
        return self._served.base_url if self._served is not None else None

    @property
    def responses(self) -> responses.RequestsMock:
        """The `responses` mock in use: stub other APIs on it (`mocker.responses.get(...)`)."""
        if self._requests is None:
            raise RuntimeError("requests is not intercepted: start the mock (and install responses)")
        return self._requests.mock

    def _harness(self) -> Harness:
        if self._state is None:
            raise RuntimeError("the mock is not started: use `with otp_mock() as otp:` or the otp_mock fixture")
        return self._state

    # lifecycle ----------------------------------------------------------------------------
    def start(self) -> OtpMocker:
        if self._state is not None:
            raise RuntimeError("this mock is started already")
        self._state = Harness(self.settings, self.clock, self.sleep_delays)
        try:
            self._intercept()
        except BaseException:
            self.stop()
            raise
        return self

    def _intercept(self) -> None:
        if self.target == "server":
            from mockserver.testing._served import ServedMock

            self._served = ServedMock(self._harness()).start()
        if _installed("requests") and not _installed("responses"):
            raise RuntimeError("requests is installed but responses is not, so requests calls would reach the "
                               "network: pip install 'otp-mock-kit[testing]'")
        if _installed("responses"):
            from mockserver.testing._requests import RequestsInterceptor

            self._requests = RequestsInterceptor(self, self.base_urls, self.served_url)
            self._requests.start()
        if _installed("httpx"):
            from mockserver.testing import _httpx

            served = self._served
            self._route_to = _httpx.Forwarder(served.base_url) if served else _httpx.InProcessTransport(self)
            _httpx.intercept(self._route)

    def stop(self) -> None:
        if self._requests is not None:
            self._requests.stop()
            self._requests = None
        if self._route_to is not None:
            from mockserver.testing import _httpx

            _httpx.release(self._route)
            self._route_to = None
        if self._served is not None:
            self._served.stop()
            self._served = None
        if self._state is not None:
            self._state.mock.close()
            self._state = None

    def __enter__(self) -> OtpMocker:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def __call__(self, func: F) -> F:
        """As a decorator: a fresh mock for each call of `func` (passed as `kw=` if named)."""
        if inspect.iscoroutinefunction(func):
            raise TypeError("otp_mock() decorates plain functions; in async tests use `with otp_mock() as otp:`")

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self.fresh() as mocker:
                if self.kw is not None:
                    kwargs[self.kw] = mocker
                return func(*args, **kwargs)

        if self.kw is not None:  # pytest must not take the injected argument for a fixture
            signature = inspect.signature(func)
            wrapper.__signature__ = signature.replace(  # type: ignore[attr-defined]
                parameters=[p for p in signature.parameters.values() if p.name != self.kw])
        return wrapper  # type: ignore[return-value]

    def fresh(self) -> OtpMocker:
        """An unstarted copy with the same options."""
        return OtpMocker(self.settings, base_urls=self.base_urls, passthrough=self._passthrough,
                         sleep_delays=self.sleep_delays, target=self.target, clock=self.clock, kw=self.kw)

    # the adapters' side -------------------------------------------------------------------
    def httpx_transport(self) -> InProcessTransport | ForwardingTransport:
        """A transport for `httpx.Client(transport=...)` and `httpx.AsyncClient(transport=...)`
        answering every request with this mock (over real HTTP with `target="server"`)."""
        from mockserver.testing._httpx import ForwardingTransport, InProcessTransport

        if self._served is not None:
            return ForwardingTransport(self._served.base_url)
        self._harness()
        return InProcessTransport(self)

    def answer(self, request: ApiRequest, url: str) -> ApiReply:
        return self._harness().exchange(request, url)

    def max_body_bytes(self) -> int:
        return self._harness().mock.settings.max_body_bytes

    def passthrough(self) -> bool:
        return self._passthrough

    def _route(self, request: httpx.Request) -> InProcessTransport | Forwarder | None:
        import httpx

        url = str(request.url)
        if _wire.split_base(url, self.base_urls) is not None:
            return self._route_to
        if self._passthrough:
            return None
        raise httpx.ConnectError(_wire.refused(request.method, url, self.base_urls), request=request)


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


def otp_mock(settings: Settings | Mapping[str, Any] | None = None, /, *, base_urls: tuple[str, ...] = (),
             passthrough: bool = False, sleep_delays: bool = False, target: str = "inprocess",
             clock: Clock | None = None, kw: str | None = None, **setting_values: Any) -> OtpMocker:
    """The OTP API mocked for `requests` and httpx, as a context manager or a decorator.

        with otp_mock(seed=7) as otp:
            my_app.send_code("+6591234567")
            my_app.check_code("+6591234567", otp.latest_code("+6591234567"))

    `https://otp.api.engagelab.cc` (and any `base_urls`) is answered by a fresh mock; other URLs
    are refused, or reach the network with `passthrough=True`. Settings come as a mapping or as
    keywords; `target="server"` answers through the served mock over real HTTP instead."""
    merged = dict(settings.__dict__ if isinstance(settings, Settings) else settings or {})
    merged.update(setting_values)
    return OtpMocker(merged, base_urls=base_urls, passthrough=passthrough, sleep_delays=sleep_delays,
                     target=target, clock=clock, kw=kw)
