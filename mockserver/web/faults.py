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
from typing import Any

from waitress.channel import HTTPChannel
from waitress.task import ErrorTask, WSGITask

FAULT_KEY = "otp_mock.fault"
TRANSPORT_KEY = "otp_mock.transport"


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
        self.write(body)


class FaultChannel(HTTPChannel):
    task_class = FaultTask
    error_task_class = EnvelopeErrorTask


def install(server: Any) -> None:
    """Serve the next connections of a waitress server with fault-capable tasks."""
    server.channel_class = FaultChannel


def _linger_zero(sock: socket.socket) -> None:
    """Closing a socket with SO_LINGER 0 sends a TCP RST instead of a FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
