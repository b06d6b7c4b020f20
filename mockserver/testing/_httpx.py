"""httpx: a transport answering in-process (sync and async), one forwarding to the served mock,
and the interception of httpx's default transports for clients that build their own.

Transport faults raise what httpx raises for them over a real connection (measured against
the served mock): a reset is `ReadError`, an empty reply or a short body `RemoteProtocolError`,
a hang the client's `ReadTimeout`.
"""

from __future__ import annotations

import asyncio
import errno
import os
import threading
import time
from collections.abc import Callable

import httpx

from mockserver.pipeline import TRANSPORT_FAULTS, ApiReply
from mockserver.testing import _wire

_SYNC = httpx.HTTPTransport.handle_request  # httpx's own, before any interception
_ASYNC = httpx.AsyncHTTPTransport.handle_async_request


class InProcessTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """Answers every request with the mock, without a socket (`mocker.httpx_transport()`)."""

    def __init__(self, answerer: _wire.Answerer) -> None:
        self.answerer = answerer

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        reply = self._answer(request, request.read())
        if reply.delay and self.answerer.sleep_delays:
            time.sleep(reply.delay)
        return self._response(request, reply)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        reply = self._answer(request, await request.aread())
        if reply.delay and self.answerer.sleep_delays:
            await asyncio.sleep(reply.delay)
        return self._response(request, reply)

    def _answer(self, request: httpx.Request, body: bytes) -> ApiReply:
        url = str(request.url)
        api = _wire.api_request(request.method, url, request.headers.multi_items(), body,
                                self.answerer.max_body_bytes())
        return self.answerer.answer(api, url)

    def _response(self, request: httpx.Request, reply: ApiReply) -> httpx.Response:
        if reply.fault in TRANSPORT_FAULTS:
            raise _fault(reply, request)
        data = b"" if request.method == "HEAD" else reply.encode()
        return httpx.Response(reply.status, headers=_wire.reply_headers(reply, data), content=data)


class Forwarder:
    """Rewrites a request to the API's URL into one to the served mock (`target="server"`),
    keeping its headers, body and timeouts."""

    def __init__(self, served_url: str) -> None:
        self.served_url = served_url.rstrip("/")

    def forwarded(self, request: httpx.Request, body: bytes) -> httpx.Request:
        url = request.url
        headers = request.headers.copy()
        headers.update(_wire.forwarded_headers(str(url)))
        return httpx.Request(request.method, self.served_url + url.raw_path.decode("ascii"), headers=headers,
                             content=body, extensions=request.extensions)


class ForwardingTransport(httpx.BaseTransport, httpx.AsyncBaseTransport):
    """`mocker.httpx_transport()` with `target="server"`: sends every request to the served
    mock over a real socket; what httpx raises is what a real connection gives."""

    def __init__(self, served_url: str) -> None:
        self.forwarder = Forwarder(served_url)
        self._sync: httpx.HTTPTransport | None = None
        self._async: httpx.AsyncHTTPTransport | None = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if self._sync is None:
            self._sync = httpx.HTTPTransport()
        return _SYNC(self._sync, self.forwarder.forwarded(request, request.read()))

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._async is None:
            self._async = httpx.AsyncHTTPTransport()
        return await _ASYNC(self._async, self.forwarder.forwarded(request, await request.aread()))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.aclose()


def _fault(reply: ApiReply, request: httpx.Request) -> httpx.TransportError:
    if reply.fault == "hang":
        timeout = (request.extensions.get("timeout") or {}).get("read")
        if timeout is not None:
            return httpx.ReadTimeout("timed out (the mock's hang fault, at once in-process)", request=request)
        return httpx.RemoteProtocolError(f"Server disconnected without sending a response "
                                         f"({_wire.EMPTY_REPLY_NOTE}).", request=request)
    if reply.fault == "connection_reset":
        return httpx.ReadError(f"[Errno {errno.ECONNRESET}] {os.strerror(errno.ECONNRESET)}", request=request)
    if reply.fault == "incomplete_body":
        read, missing = _wire.half(reply.encode())
        return httpx.RemoteProtocolError("peer closed connection without sending complete message body "
                                         f"(received {read} bytes, expected {read + missing})", request=request)
    return httpx.RemoteProtocolError("Server disconnected without sending a response.", request=request)


# Interception of httpx's default transports ------------------------------------------------
# answer in-process, forward through the client's own transport, or let through (None)
Choice = InProcessTransport | Forwarder | None
Route = Callable[[httpx.Request], Choice]
_routes: list[Route] = []  # the active mockers, newest last
_lock = threading.Lock()


def intercept(route: Route) -> None:
    """Route the requests of every httpx client without a transport of its own through
    `route` (the newest mocker's), which may also refuse them (httpx.ConnectError)."""
    with _lock:
        if not _routes:
            httpx.HTTPTransport.handle_request = _sync_handle  # type: ignore[method-assign]
            httpx.AsyncHTTPTransport.handle_async_request = _async_handle  # type: ignore[method-assign]
        _routes.append(route)


def release(route: Route) -> None:
    with _lock:
        if route in _routes:
            _routes.remove(route)
        if not _routes:
            httpx.HTTPTransport.handle_request = _SYNC  # type: ignore[method-assign]
            httpx.AsyncHTTPTransport.handle_async_request = _ASYNC  # type: ignore[method-assign]


def _chosen(request: httpx.Request) -> Choice:
    with _lock:
        route = _routes[-1] if _routes else None
    return None if route is None else route(request)


def _sync_handle(self: httpx.HTTPTransport, request: httpx.Request) -> httpx.Response:
    chosen = _chosen(request)
    if isinstance(chosen, InProcessTransport):
        return chosen.handle_request(request)
    return _SYNC(self, request if chosen is None else chosen.forwarded(request, request.read()))


async def _async_handle(self: httpx.AsyncHTTPTransport, request: httpx.Request) -> httpx.Response:
    chosen = _chosen(request)
    if isinstance(chosen, InProcessTransport):
        return await chosen.handle_async_request(request)
    return await _ASYNC(self, request if chosen is None else chosen.forwarded(request, await request.aread()))
