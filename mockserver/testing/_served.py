"""The served mock in a thread of the test process: waitress on a loopback port, with the
transport faults of `otp-mock serve`, answering through the testing face's records. For
clients that use neither requests nor httpx (urllib, another language, a browser), and for
`target="server"`. Each test may take a dev_key of its own (`new_key`), so tests sharing one
served mock never see each other's messages, templates, clocks or scenarios."""

from __future__ import annotations

import base64
import itertools
import os
import secrets
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from types import TracebackType
from typing import Any

from waitress import wasyncore

from mockserver.config import Settings
from mockserver.otp.clock import Clock
from mockserver.pipeline import ApiReply, ApiRequest
from mockserver.testing import _wire
from mockserver.testing._harness import Harness
from mockserver.testing._helpers import Helpers
from mockserver.web.server import waitress_server
from mockserver.web.wsgi import MockWSGI

_keys = itertools.count(1)


class ServedMock(Helpers):
    """A served mock on `base_url` until `stop()` (or the end of a `with` block). Its helpers
    see every dev_key; `new_key()` gives a test one of its own."""

    def __init__(self, harness: Harness, host: str = "127.0.0.1", port: int = 0, owns: bool = False) -> None:
        self.harness = harness
        self._owns = owns  # closes the mock when it stops
        self.host = host
        self._port = port
        self._wsgi = self._adapter()
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def _harness(self) -> Harness:
        return self.harness

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the served mock is not running: call start() first")
        return int(self._server.effective_port)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServedMock:
        settings = self.harness.mock.settings.replace(host=self.host, port=self._port)
        self._server = waitress_server(self._app, settings)
        _wire.LIVE_PORTS.add(self.port)
        self._thread = threading.Thread(target=self._loop, name=f"otp-mock:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving: open connections are closed, the port is freed."""
        if self._server is None or self._thread is None:
            return
        _wire.LIVE_PORTS.discard(self.port)
        self._stopping.set()
        self._server.pull_trigger()  # wakes the loop, which then ends
        self._thread.join(10)
        server, self._server = self._server, None
        server.pull_trigger = lambda: None  # a task still finishing must not write to a closed pipe
        wasyncore.close_all(server._map)  # the loop has ended: nothing else touches the map
        server.task_dispatcher.shutdown(timeout=5)
        if self._owns:
            self.harness.mock.close()

    def __enter__(self) -> ServedMock:
        return self if self._server is not None else self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def new_key(self, prefix: str = "test") -> ServedKey:
        """A fresh dev_key (unique in this process and across pytest-xdist workers) with its
        own state on this served mock, and helpers scoped to it."""
        worker = os.environ.get("PYTEST_XDIST_WORKER") or f"p{os.getpid()}"
        return ServedKey(self, f"{prefix}-{worker}-{next(_keys)}-{secrets.token_hex(3)}", secrets.token_hex(8))

    # serving ------------------------------------------------------------------------------
    def _adapter(self) -> MockWSGI:
        return MockWSGI(self.harness.mock, answer=self._answer)

    def _app(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self._wsgi.mock is not self.harness.mock:  # rebuilt by set(): its limits may have changed
            self._wsgi = self._adapter()
        return self._wsgi(environ, start_response)

    def _answer(self, request: ApiRequest) -> ApiReply:
        reply = self.harness.exchange(request, _wire.url_of(request))
        return reply if self.harness.sleep_delays or not reply.delay else replace(reply, delay=0.0)

    def _loop(self) -> None:
        """waitress's loop, one poll at a time, until stop()."""
        server = self._server
        while not self._stopping.is_set():
            wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map, count=1)


class ServedKey(Helpers):
    """One dev_key on a served mock: where a test's client points (`base_url`, `auth`) and
    the helpers, scoped to that key (its messages, calls, clock and scenario only)."""

    def __init__(self, served: ServedMock, dev_key: str, dev_secret: str) -> None:
        self.served = served
        self.dev_key = dev_key
        self.dev_secret = dev_secret
        self._scope = dev_key
        self._scenario = False

    def _harness(self) -> Harness:
        return self.served.harness

    def use_scenario(self, name: str | None, *, dev_key: str | None = None) -> None:
        super().use_scenario(name, dev_key=dev_key)
        self._scenario = self._scenario or dev_key in (None, self.dev_key)

    @property
    def base_url(self) -> str:
        return self.served.base_url

    @property
    def auth(self) -> tuple[str, str]:
        """(dev_key, dev_secret), for `requests`/`httpx` `auth=`."""
        return self.dev_key, self.dev_secret

    @property
    def authorization(self) -> str:
        """The value of the Authorization header (HTTP Basic)."""
        token = base64.b64encode(f"{self.dev_key}:{self.dev_secret}".encode()).decode("ascii")
        return f"Basic {token}"

    def set(self, **settings: Any) -> None:
        raise RuntimeError("set(): a served key shares its mock with other tests; ask for the settings with "
                           "@pytest.mark.otp_mock(...) instead (the test then gets a served mock with them)")

    def close(self) -> None:
        """Forget everything of this key, its scenario too (the fixture does it after each test)."""
        self.reset()
        if self._scenario:
            self.use_scenario(None)

    def __repr__(self) -> str:
        return f"ServedKey(dev_key={self.dev_key!r}, base_url={self.base_url!r})"


def serve_in_thread(settings: Settings | Mapping[str, Any] | None = None, /, *, port: int = 0,
                    host: str = "127.0.0.1", sleep_delays: bool = False, clock: Clock | None = None,
                    **setting_values: Any) -> ServedMock:
    """The served mock, started, in a daemon thread of this process: waitress on `host:port`
    (port 0: a free one), with the transport faults of `otp-mock serve`.

        with serve_in_thread(seed=7) as served:
            urllib.request.urlopen(served.base_url + "/_mock/health")
    """
    merged = dict(settings.__dict__ if isinstance(settings, Settings) else settings or {})
    merged.update(setting_values)
    harness = Harness(Settings.from_mapping(merged), clock, sleep_delays)
    return ServedMock(harness, host, port, owns=True).start()
