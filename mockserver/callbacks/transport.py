"""One callback POST, bounded in every way a receiver could stretch it: a hard deadline for the
whole exchange (connecting, sending, the status line and headers, the body), however slowly the
receiver answers; at most `max_response` bytes of its answer read; redirects never followed; the
address checked against `callback_targets` and connected to as checked (see targets.py).

The deadline is kept by a reaper thread of the process, which shuts down the socket of an
exchange past its time, so even a receiver that drips one byte a second is cut off on time.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any

from mockserver.callbacks import targets
from mockserver.threads import ProcessThread

USER_AGENT = "otp-mock-callbacks"
KEEP = 1024  # characters of an answer the delivery log keeps


@dataclass(frozen=True)
class Answer:
    """What a receiver answered (status None when it answered nothing in time), the start of its
    body, how long the exchange took, and what went wrong."""

    status: int | None
    body: str | None
    duration_ms: float
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status is not None and 200 <= self.status < 300


class Transport:
    def __init__(self, policy: str = "private", timeout: float = 3.0, max_response: int = 65536,
                 refused_ports: tuple[int, ...] = ()) -> None:
        self.policy = policy
        self.refused_ports = refused_ports
        self.timeout = timeout
        self.max_response = max_response

    def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float | None = None) -> Answer:
        """POST `body` to `url`; never raises for what the receiver or the network does."""
        limit = self.timeout if timeout is None else timeout
        started = time.monotonic()
        try:
            status, text = self._exchange(url, body, headers, started + limit)
        except _Incomplete as exc:
            return Answer(exc.status, None, _ms(started), f"incomplete answer: {exc.why} within {limit:g} s")
        except targets.TargetRefused as exc:
            return Answer(None, None, _ms(started), f"refused: {exc}")
        except (OSError, http.client.HTTPException, ValueError) as exc:  # TimeoutError is an OSError
            return Answer(None, None, _ms(started), _describe(exc, time.monotonic() - started >= limit, limit))
        error = None
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed (answer 2xx at the URL itself)"
        elif not 200 <= status < 300:
            error = f"HTTP {status}"
        return Answer(status, text, _ms(started), error)

    def _exchange(self, url: str, body: bytes, headers: dict[str, str], deadline: float) -> tuple[int, str]:
        parts, host, port = targets.split_url(url, self.refused_ports)
        addresses = targets.resolve(host, port, self.policy)
        conn = _Connection(host, port, addresses, parts.scheme == "https", deadline)
        try:
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            conn.request("POST", path, body, {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers})
            response = conn.getresponse()
            status = response.status
            if conn.reaped or time.monotonic() >= deadline:  # cut in the headers: they ended at the cut
                raise _Incomplete(status, "the headers did not end")
            try:
                raw = response.read(self.max_response)
            except (OSError, http.client.HTTPException):
                raise _Incomplete(status, "the body was cut") from None
            length = response.getheader("content-length")
            expected = int(length) if length and length.isdigit() and len(length) < 19 else None
            if conn.reaped or (expected is not None and len(raw) < min(expected, self.max_response)):
                raise _Incomplete(status, "the body is shorter than its Content-Length" if expected is not None
                                  else "the body did not end")
            return status, _text(raw, length)
        finally:
            conn.close()


class _Incomplete(Exception):  # noqa: N818 - a half answer, within the deadline
    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status, self.why = status, why


class _Connection(http.client.HTTPConnection):
    """A connection to the addresses that were checked (never resolved again), under a deadline."""

    def __init__(self, host: str, port: int, addresses: list[tuple[socket.AddressFamily, tuple[str, int]]],
                 tls: bool, deadline: float) -> None:
        super().__init__(host, port, timeout=max(0.01, deadline - time.monotonic()))
        self.addresses, self.tls, self.deadline, self.reaped = addresses, tls, deadline, False

    def connect(self) -> None:
        last: OSError | None = None
        for family, address in self.addresses:
            sock = socket.socket(family, socket.SOCK_STREAM)
            REAPER.watch(self, sock)
            try:
                sock.settimeout(max(0.01, self.deadline - time.monotonic()))
                sock.connect(address)
            except OSError as exc:
                sock.close()
                last = exc
                if self.reaped or time.monotonic() >= self.deadline:
                    raise TimeoutError("connecting took too long") from None
                continue
            if self.tls:
                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=self.host)
                REAPER.watch(self, sock)
            self.sock = sock
            return
        raise last or OSError("no address to connect to")

    def close(self) -> None:
        REAPER.forget(self)
        super().close()


class Reaper:
    """Shuts down the sockets of exchanges past their deadline (one thread per process)."""

    def __init__(self) -> None:
        self._watched: dict[int, tuple[_Connection, Any]] = {}
        self._lock = threading.Condition()
        self._thread = ProcessThread("callback-deadlines", self._run)

    def watch(self, conn: _Connection, sock: Any) -> None:
        self._thread.ensure()
        with self._lock:
            self._watched[id(conn)] = (conn, sock)
            self._lock.notify()

    def forget(self, conn: _Connection) -> None:
        with self._lock:
            self._watched.pop(id(conn), None)

    def _run(self, stopped: threading.Event) -> None:
        while not stopped.is_set():
            with self._lock:
                now = time.monotonic()
                late = [(c, s) for c, s in self._watched.values() if c.deadline <= now]
                for conn, _ in late:
                    self._watched.pop(id(conn), None)
                if not late:  # wait for the soonest deadline, or for a new exchange
                    soonest = min((c.deadline for c, _ in self._watched.values()), default=now + 1.0)
                    self._lock.wait(max(0.005, soonest - now))
                    continue
            for conn, sock in late:
                conn.reaped = True
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


REAPER = Reaper()


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _text(raw: bytes, length: str | None) -> str:
    """The start of an answer's body, with its size when it was cut."""
    total = int(length) if length and length.isdigit() and len(length) < 19 else None
    if len(raw) <= KEEP and (total is None or total <= len(raw)):
        return raw.decode("utf-8", "replace")
    size = f"{total} bytes" if total is not None else f"{len(raw)} bytes or more"
    return raw[:KEEP].decode("utf-8", "replace") + f"... ({size})"


def _describe(exc: BaseException, late: bool, limit: float) -> str:
    if late:
        return f"timed out after {limit:g} s"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the receiver running?)"
    if isinstance(exc, socket.gaierror):
        return f"the host name does not resolve ({exc.strerror})"
    if isinstance(exc, ssl.SSLError):
        return f"TLS failed: {exc.reason or exc}"
    if isinstance(exc, http.client.RemoteDisconnected):
        return "the receiver closed the connection without answering"
    if isinstance(exc, http.client.HTTPException):
        return f"not an HTTP answer ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"[:200]
