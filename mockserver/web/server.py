"""The server the mock runs in: waitress, with the transport faults of scenarios.

One process serves as waitress does by default: it accepts every connection and keeps it alive.
A worker of `--workers` (see `workers.py`) shares one listening socket with its siblings and
*pulls*: it accepts a connection only while one of its request threads is free, and closes each
connection after its reply. The kernel's accept queue then hands every request to whichever
worker is free first, like a sync gunicorn worker, where a kept-alive connection would stay
with the worker that happened to accept it, however busy (2 workers, 32 connections: the kernel
split them up to 21 to 11 over SO_REUSEPORT sockets; pulling took the benchmark's median p99
from 23.7 to 17.0 ms and its requests/s up by a tenth).
"""

from __future__ import annotations

import socket
import time
from typing import Any

from waitress.channel import HTTPChannel

from mockserver.config import Settings
from mockserver.web import faults
from mockserver.web.wsgi import WSGIApp

IDLE_GRACE = 0.2  # s: a connection quiet for longer (no request, no reply) holds no request thread


def waitress_server(app: WSGIApp, settings: Settings, sock: socket.socket | None = None) -> Any:
    """A waitress server for the app on the settings' host and port, or on `sock` (a listening
    socket shared by the workers) as a pulling worker. A lookahead lets waitress notice a
    client that gave up, so the hang fault stops early."""
    from waitress.server import create_server

    where: dict[str, Any] = {"sockets": [sock]} if sock is not None else {"host": settings.host,
                                                                           "port": settings.port}
    server = create_server(app, threads=settings.threads, ident="otp-mock", channel_request_lookahead=1, **where)
    if sock is None:
        faults.install(server)
    else:
        _pull(server, settings.threads)
    return server


def serve_on(app: WSGIApp, sock: socket.socket, settings: Settings) -> None:
    """One worker's server on the shared socket, until it is interrupted."""
    server = waitress_server(app, settings, sock)
    try:
        server.run()
    finally:
        server.close()


def _pull(server: Any, threads: int) -> None:
    """Make a waitress server accept only while it has a free request thread, one request per
    connection. waitress asks `readable()` of its listening socket before every wait."""
    accepting = server.readable
    fixed = len(server._map)  # the listening socket and waitress's trigger: no connection yet

    def readable() -> bool:
        allowed = bool(accepting())  # waitress's own check, which also closes timed-out connections
        if not allowed or len(server._map) - fixed < threads:  # the common case, without a walk
            return allowed
        return _busy_channels(server._map.values(), time.time()) < threads

    server.readable = readable
    server.channel_class = OneRequestChannel
    server.adj.asyncore_loop_timeout = IDLE_GRACE / 2  # look again when a grace has passed (waitress: 1 s)


def _busy_channels(dispatchers: Any, now: float) -> int:
    """Connections that hold a request thread: a request queued or running, a reply being
    sent, or bytes moved within IDLE_GRACE (a new connection, a request arriving). A connection
    that went quiet (a browser's speculative one, a client stuck halfway through its request)
    stops counting, so it cannot block the worker; waitress closes it after `channel_timeout`."""
    return sum(1 for d in dispatchers if isinstance(d, HTTPChannel)
               and (d.requests or d.total_outbufs_len or d.close_when_flushed
                    or now - d.last_activity < IDLE_GRACE))


class OneRequestTask(faults.FaultTask):
    """Answers with `Connection: close`, as if the client had asked for it (waitress then sets
    the header right for HTTP/1.0 and 1.1), so the next request goes to a free worker."""

    def build_response_header(self) -> bytes:
        headers = getattr(self.request, "headers", None)  # an error task's request has none
        if headers is not None:
            headers["CONNECTION"] = "close"
        header: bytes = super().build_response_header()
        return header


class OneRequestChannel(faults.FaultChannel):
    task_class = OneRequestTask
