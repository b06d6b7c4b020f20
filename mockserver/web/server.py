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

IDLE_GRACE = 0.05  # s: a new connection that has sent nothing yet holds a thread for at most this long
DEFER_ACCEPT = 5  # s: the kernel hands a worker a connection once bytes arrive (or after this long)
# Waitress's limits, set deliberately (its defaults: 100 connections, 120 s of idleness, 1 GB
# bodies spooled to disk, select() capped at 1024 descriptors).
SERVER_LIMITS: dict[str, Any] = {"connection_limit": 2000, "channel_timeout": 30, "cleanup_interval": 5,
                                 "asyncore_use_poll": True, "max_request_header_size": 65536}


def waitress_server(app: WSGIApp, settings: Settings, sock: socket.socket | None = None) -> Any:
    """A waitress server for the app on the settings' host and port, or on `sock` (a listening
    socket shared by the workers) as a pulling worker. A lookahead lets waitress notice a
    client that gave up, so the hang fault stops early."""
    from waitress.server import create_server

    where: dict[str, Any] = {"sockets": [sock]} if sock is not None else {"host": settings.host,
                                                                           "port": settings.port}
    server = create_server(app, threads=settings.threads, ident="otp-mock", channel_request_lookahead=1,
                           max_request_body_size=settings.max_body_bytes, **SERVER_LIMITS, **where)
    if sock is None:
        faults.install(server)
        listening = getattr(server, "socket", None)
        if isinstance(listening, socket.socket):
            defer_accept(listening)
    else:
        _pull(server, settings.threads)
    return server


def defer_accept(sock: socket.socket) -> None:
    """Connections that send nothing stay in the kernel (Linux's TCP_DEFER_ACCEPT)."""
    if hasattr(socket, "TCP_DEFER_ACCEPT"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_DEFER_ACCEPT, DEFER_ACCEPT)
        except OSError:
            pass


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
    sent, or a new connection whose bytes have not been read yet (for IDLE_GRACE at most: the
    listening socket defers connections until they send, so they are read at once). A client
    stuck halfway through its request, or one that sends nothing, holds none, so a flood of them
    cannot block the worker; waitress closes them after `channel_timeout`."""
    return sum(1 for d in dispatchers if isinstance(d, HTTPChannel)
               and (d.requests or d.total_outbufs_len or d.close_when_flushed
                    or (d.request is None and now - d.last_activity < IDLE_GRACE)))


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
