"""No network in a test: every connection and name lookup outside the loopback interface is
refused, and on the loopback interface only the ports of this process's served mocks are
reachable (`target="server"`, `otp_mock_server`)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

from mockserver.errors import MockError
from mockserver.testing import _wire

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


class NetworkBlocked(MockError, RuntimeError):
    """A test under `no_network()` tried to reach the network (not an OSError, so no client
    library takes it for a network failure to retry or wrap)."""


@contextlib.contextmanager
def no_network() -> Iterator[None]:
    """Refuse every socket connection except to a served mock of this process, and every
    name lookup except of the loopback names, until the block ends."""
    connect, connect_ex, lookup = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo

    def guarded_connect(sock: socket.socket, address: Any) -> None:
        _check(sock, address)
        connect(sock, address)

    def guarded_connect_ex(sock: socket.socket, address: Any) -> int:
        _check(sock, address)
        return connect_ex(sock, address)

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name is not None and str(name).lower() not in LOOPBACK_NAMES and not _is_address(str(name)):
            raise NetworkBlocked(f"no_network(): name lookup of {name!r} refused: this test must not use the "
                                 "network (the OTP mock answers in-process)")
        return lookup(host, *args, **kwargs)

    socket.socket.connect = guarded_connect  # type: ignore[method-assign, assignment]
    socket.socket.connect_ex = guarded_connect_ex  # type: ignore[method-assign, assignment]
    socket.getaddrinfo = guarded_lookup
    try:
        yield
    finally:
        socket.socket.connect, socket.socket.connect_ex = connect, connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = lookup


def _is_address(name: str) -> bool:
    """A numeric address needs no lookup (its connection is checked instead)."""
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


def _check(sock: socket.socket, address: Any) -> None:
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return  # a Unix socket or a socket pair is not the network
    host, port = address[0], address[1]
    if host in ("127.0.0.1", "::1") and port in _wire.LIVE_PORTS:
        return
    sock.close()  # the caller never gets to use it (create_connection closes only on OSError)
    raise NetworkBlocked(f"no_network(): connection to {host}:{port} refused: this test must not use the "
                         "network (the OTP mock answers in-process; with --otp-mock-target=server only its "
                         "own served mock is reachable)")
