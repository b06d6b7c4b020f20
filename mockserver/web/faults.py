"""Transport faults on the served mock: what waitress does when a scenario asks for one.

The WSGI app marks the request's environ with the fault; this task, installed on the waitress
server by `otp-mock serve`, then writes nothing (empty reply), resets the connection (RST), or
sends half of the body before closing (incomplete body). In-process there is no socket, so the
app answers those faults with an explained 1000 instead.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Any

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask, WSGITask

FAULT_KEY = "otp_mock.fault"
TRANSPORT_KEY = "otp_mock.transport"
LINGER_SECONDS = 2.0  # how long a refused request's unread bytes are drained before the socket closes
LINGER_BYTES = 8 << 20  # and at most this many


class FaultTask(WSGITask):
    """A waitress task that can misbehave on purpose."""

    def get_environment(self) -> dict[str, Any]:
        environ: dict[str, Any] = super().get_environment()
        environ[TRANSPORT_KEY] = True
        return environ

    def write(self, data: bytes) -> None:
        environ = self.environ or {}
        fault = environ.get(FAULT_KEY)
        if fault is None:
            super().write(data)
            return
        if fault == "incomplete_body":
            environ[FAULT_KEY] = "done"
            super().write(data[: len(data) // 2])
        elif fault == "connection_reset" and self.channel.socket is not None:
            _linger_zero(self.channel.socket)
        self.wrote_header = True  # nothing more is written: finish() must not add headers
        self.content_length = None
        self.close_on_finish = True


class EnvelopeErrorTask(ErrorTask):
    """What waitress answers itself (bad framing, a duplicated Content-Length, a NUL in a header,
    headers too large, a body over max_body_bytes, Transfer-Encoding identity, an app that
    raised) in the mock's envelope instead of text/plain: `{"code": 3001, ...}` with HTTP 400 on
    the API (1000 with 500), `{"code": <status>, ...}` on the control plane."""

    def execute(self) -> None:
        error: Any = getattr(self.request, "error", None)
        path = str(getattr(self.request, "path", "") or "")
        failed = error.code == 500  # the app raised: its own fault, not the request's
        status = 500 if failed else 400
        if path == "/_mock" or path.startswith("/_mock/"):
            code = status
        else:
            code = 1000 if failed else 3001
        if error.code == 413:  # word for word what the mock answers to a body it measured itself
            message = "the body is larger than the mock accepts (setting max_body_bytes)"
            message = message if code == 400 else f"invalid request body: {message}"
        elif failed:
            message = "internal server error"
        else:
            message = f"invalid request: {str(error.reason).lower()}: {str(error.body)[:200]}"
        body = json.dumps({"code": code, "message": message}, separators=(",", ":")).encode()
        self.status = f"{status} {'Internal Server Error' if failed else 'Bad Request'}"
        self.response_headers = [*self.response_headers, ("Content-Type", "application/json")]
        self.set_close_on_finish()
        self.content_length = len(body)
        if isinstance(self.channel, FaultChannel):  # the client may still be sending the body this refuses
            self.channel.linger = True
        self.write(body)


class FaultChannel(HTTPChannel):
    """A channel whose tasks can misbehave on purpose, and which closes gracefully after a
    refusal waitress made before reading the whole request (a body over max_body_bytes): it
    stops writing, drains what the client still sends for LINGER_SECONDS at most, then closes.
    A plain close with unread bytes makes the kernel send a RST, which can destroy the refusal
    before the client reads it (Apache's "lingering close")."""

    task_class = FaultTask
    error_task_class = EnvelopeErrorTask
    linger = False
    _linger_until = 0.0
    _drained = 0

    def handle_close(self) -> None:
        if not self.linger or self._linger_until or self.socket is None:
            super().handle_close()
            return
        try:
            self.socket.shutdown(socket.SHUT_WR)
        except OSError:
            super().handle_close()
            return
        self._linger_until = time.monotonic() + LINGER_SECONDS
        # Only a lingering channel answers the loop differently: set on the instance, so every
        # other channel keeps waitress's own methods (an override on the class cost a third of
        # one process's req/s on SQLite: the loop asks each channel every turn).
        self.readable = self._lingering_readable  # type: ignore[method-assign]
        self.writable = _never  # type: ignore[method-assign]
        self.handle_read = self._lingering_read  # type: ignore[method-assign]

    def _lingering_readable(self) -> bool:
        if time.monotonic() > self._linger_until or self._drained > LINGER_BYTES:
            HTTPChannel.handle_close(self)
            return False
        return bool(self.connected)

    def _lingering_read(self) -> None:
        try:
            data = self.socket.recv(65536) if self.socket is not None else b""
        except OSError:
            data = b""
        if not data:  # the client is done (or gone): close for good
            HTTPChannel.handle_close(self)
            return
        self._drained += len(data)


def _never() -> bool:
    return False


def install(server: Any) -> None:
    """Serve the next connections of a waitress server with fault-capable tasks."""
    server.channel_class = FaultChannel


def _linger_zero(sock: socket.socket) -> None:
    """Closing a socket with SO_LINGER 0 sends a TCP RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
