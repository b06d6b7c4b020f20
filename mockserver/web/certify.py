"""The certification session's server: the mock (`MockWSGI` over an `OtpMock`) behind a thin
WSGI layer that tags each request for the journal and times each exchange on the wire, served
by waitress on 127.0.0.1 in a thread of the `otp-mock certify` process.

    TAG_HEADER        set on every request before the mock sees it (`SESSION/N`), so the
                      journal's record and the wire's observation meet (records.py)
    Observation       when the exchange began, how long until the reply left or the client
                      went away (the hang fault holds until one of the two), and which first
    POST /_certify/end  with the session's Basic credentials: ends a served session (the
                      certification's own route, outside the mock's API and control plane)

The records themselves are read from the mock's event stream through its ControlPlane
(session.read_session), never from this layer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from waitress import wasyncore

from mockserver.certify.records import TAG_HEADER, Observation
from mockserver.certify.session import SessionKeys
from mockserver.mock import OtpMock
from mockserver.router import plane_of
from mockserver.web.server import waitress_server
from mockserver.web.wsgi import MockWSGI

END_PATH = "/_certify/end"
MAX_OBSERVATIONS = 100_000  # exchanges one session remembers (a session makes a few hundred)
_ENVIRON_TAG = "HTTP_" + TAG_HEADER.upper().replace("-", "_")


class SessionApp:
    """The WSGI app of a session: the end route, then the mock, each exchange tagged and timed."""

    def __init__(self, mock: OtpMock, keys: SessionKeys, stop: threading.Event) -> None:
        self.mock, self.keys, self.stop = mock, keys, stop
        self.inner = MockWSGI(mock)
        self.observations: dict[str, Observation] = {}
        self.served = 0
        self.ended: list[str] = []
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or "/"
        if path == END_PATH:
            return self._end(environ, start_response)
        tag = f"{self.keys.session_id}/{next(self._numbers)}"
        environ[_ENVIRON_TAG] = tag  # replaces whatever the client sent under that name
        started, clock = time.time(), time.monotonic()
        try:
            return self.inner(environ, start_response)
        finally:
            gone = environ.get("waitress.client_disconnected", lambda: False)
            seen = Observation(started, time.monotonic() - clock, bool(gone()))
            with self._lock:
                if plane_of(path) == "api":
                    self.served += 1
                if len(self.observations) < MAX_OBSERVATIONS:
                    self.observations[tag] = seen

    def _end(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") != "POST":
            return _reply(start_response, 405, {"code": 405, "message": f"use POST {END_PATH}"}, [("Allow", "POST")])
        if not self._authorized(environ.get("HTTP_AUTHORIZATION", "")):
            return _reply(start_response, 401, {"code": 2001, "message": "ending the session needs the session's "
                                                "Basic credentials (OTP_DEV_KEY:OTP_DEV_SECRET)"})
        with self._lock:
            if not self.ended:
                self.ended.append(f"{END_PATH}")
        self.stop.set()
        return _reply(start_response, 200, {"code": 0, "message": "the session ends; the report is being written"})

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(value.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        wanted = f"{self.keys.dev_key}:{self.keys.dev_secret}".encode()
        return hmac.compare_digest(given, wanted)


def _reply(start_response: Callable[..., Any], status: int, body: dict[str, Any],
           headers: list[tuple[str, str]] | None = None) -> Iterable[bytes]:
    data = json.dumps(body).encode()
    phrase = {200: "OK", 401: "Unauthorized", 405: "Method Not Allowed"}[status]
    start_response(f"{status} {phrase}", [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                                          *(headers or [])])
    return [data]


class SessionServer:
    """waitress serving a SessionApp on 127.0.0.1 (port 0: a free one), in a daemon thread."""

    def __init__(self, app: SessionApp, port: int = 0) -> None:
        self.app = app
        self._port = port
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self.base_url = ""

    def start(self) -> SessionServer:
        settings = self.app.mock.settings.replace(host="127.0.0.1", port=self._port)
        self._server = waitress_server(self.app, settings)
        self.base_url = f"http://127.0.0.1:{self._server.effective_port}"
        self._thread = threading.Thread(target=self._loop, name="otp-mock:certify", daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        server = self._server
        while not self._stopping.is_set():
            wasyncore.loop(timeout=server.adj.asyncore_loop_timeout, map=server._map, count=1)

    def stop(self) -> None:
        """Stop serving and wait (bounded) for the requests still running."""
        if self._server is None or self._thread is None:
            return
        self._stopping.set()
        self._server.pull_trigger()
        self._thread.join(10)
        server, self._server = self._server, None
        server.pull_trigger = lambda: None
        wasyncore.close_all(server._map)
        server.task_dispatcher.shutdown(timeout=5)
