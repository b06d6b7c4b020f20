"""The server the mock runs in: waitress, with the transport faults of scenarios."""

from __future__ import annotations

import socket
from typing import Any

from flask import Flask

from mockserver.config import Settings
from mockserver.web import faults


def waitress_server(app: Flask, settings: Settings, sock: socket.socket | None = None) -> Any:
    """A waitress server for the app: on `sock` when given (a worker's own socket), else on the
    settings' host and port. A lookahead lets waitress notice a client that gave up, so the
    hang fault stops early."""
    from waitress.server import create_server

    where: dict[str, Any] = {"sockets": [sock]} if sock is not None else {"host": settings.host,
                                                                           "port": settings.port}
    server = create_server(app, threads=settings.threads, ident="otp-mock", channel_request_lookahead=1, **where)
    faults.install(server)
    return server


def serve_on(app: Flask, sock: socket.socket, settings: Settings) -> None:
    """One worker's server, until it is interrupted."""
    server = waitress_server(app, settings, sock)
    try:
        server.run()
    finally:
        server.close()
