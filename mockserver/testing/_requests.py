"""`requests` through `responses`: calls to the mock's base URLs are answered in-process, or
forwarded over a real socket to the served mock (`target="server"`); transport faults raise
what `requests` raises for them over a real connection (measured against the served mock)."""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Mapping
from http.client import RemoteDisconnected
from typing import Any

import requests
import responses
from requests.adapters import HTTPAdapter
from responses import BaseResponse
from responses.registries import FirstMatchRegistry
from urllib3.exceptions import IncompleteRead, ProtocolError

from mockserver.pipeline import TRANSPORT_FAULTS, ApiReply
from mockserver.testing import _wire

_REAL_SEND = responses._real_send  # HTTPAdapter.send as it was before any mock patched it


class RequestsInterceptor:
    """One `responses.RequestsMock` answering the base URLs; others are refused or passed through."""

    def __init__(self, answerer: _wire.Answerer, base_urls: tuple[str, ...], served_url: str | None) -> None:
        self.answerer = answerer
        self.base_urls = base_urls
        self.served_url = served_url
        send = self._forward if served_url is not None else _REAL_SEND
        self.mock = responses.RequestsMock(assert_all_requests_are_fired=False, real_adapter_send=send,
                                           registry=_RefusingLast)
        pattern = _wire.url_pattern(base_urls)
        for method in _wire.METHODS:
            if served_url is None:
                self.mock.add_callback(method, pattern, callback=self._callback, content_type=None)
            else:
                self.mock.add(responses.PassthroughResponse(method, pattern))
        if answerer.passthrough():
            self.mock.add_passthru(re.compile(r"https?://", re.IGNORECASE))
        else:
            registry = self.mock.get_registry()
            assert isinstance(registry, _RefusingLast)
            registry.refusal = _Refusal(base_urls)

    def start(self) -> None:
        self.mock.start()

    def stop(self) -> None:
        self.mock.stop(allow_assert=False)
        self.mock.reset()

    # in-process ---------------------------------------------------------------------------
    def _callback(self, prepared: requests.PreparedRequest) -> Any:
        url = prepared.url or ""
        raw = _bytes(prepared.body)
        request = _wire.api_request(prepared.method or "GET", url, prepared.headers.items(), raw,
                                    self.answerer.max_body_bytes())
        reply = self.answerer.answer(request, url)
        if reply.delay and self.answerer.sleep_delays:
            time.sleep(reply.delay)
        if reply.fault in TRANSPORT_FAULTS:
            return _fault(reply, prepared)
        data = b"" if request.method == "HEAD" else reply.encode()
        return reply.status, _wire.reply_headers(reply, data), data

    # over HTTP ----------------------------------------------------------------------------
    def _forward(self, adapter: HTTPAdapter, request: requests.PreparedRequest, stream: bool = False,
                 timeout: Any = None, verify: bool | str = True, cert: Any = None,
                 proxies: Mapping[str, str] | None = None) -> requests.Response:
        """Send a call to a base URL to the served mock instead, through the client's own
        adapter (its timeouts, its pool): every error is the one `requests` really raises."""
        url = request.url or ""
        rest = _wire.split_base(url, self.base_urls)
        if rest is None or self.served_url is None:
            return _REAL_SEND(adapter, request, stream, timeout, verify, cert, proxies)
        forwarded = request.copy()
        forwarded.url = self.served_url + rest
        forwarded.headers.update(_wire.forwarded_headers(url))
        response = _REAL_SEND(adapter, forwarded, stream, timeout, verify, cert, proxies)
        response.request, response.url = request, url
        return response


class _Refusal(responses.CallbackResponse):
    """Refuses any request no other stub matched, saying what to do about it."""

    def __init__(self, base_urls: tuple[str, ...]) -> None:
        super().__init__("ANY", re.compile(".*"), self._refuse, content_type=None)
        self.base_urls = base_urls

    def _refuse(self, request: requests.PreparedRequest) -> Exception:
        message = _wire.refused(request.method or "GET", request.url or "", self.base_urls)
        return requests.exceptions.ConnectionError(message, request=request)


class _RefusingLast(FirstMatchRegistry):
    """responses' first-match registry, with a refusal for what no stub matches (stubs a test
    adds on `mocker.responses` still answer their URLs)."""

    refusal: _Refusal | None = None

    def find(self, request: requests.PreparedRequest) -> tuple[BaseResponse | None, list[str]]:
        found, reasons = super().find(request)
        return (self.refusal if found is None else found), reasons


def _fault(reply: ApiReply, prepared: requests.PreparedRequest) -> Exception:
    """What `requests` raises when the served mock performs the fault."""
    if reply.fault == "hang":
        timeout = _read_timeout(getattr(prepared, "req_kwargs", {}).get("timeout"))
        if timeout is not None:
            return requests.exceptions.ReadTimeout(
                f"Read timed out. (read timeout={timeout}; the mock's hang fault, at once in-process)",
                request=prepared)
        return requests.exceptions.ConnectionError(
            ProtocolError("Connection aborted.", RemoteDisconnected(
                f"Remote end closed connection without response ({_wire.EMPTY_REPLY_NOTE})")), request=prepared)
    if reply.fault == "connection_reset":
        reason: Exception = ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")
        return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", reason), request=prepared)
    if reply.fault == "incomplete_body":
        read, missing = _wire.half(reply.encode())
        short = IncompleteRead(read, missing)
        return requests.exceptions.ChunkedEncodingError(
            ProtocolError(f"Connection broken: {short!r}", short), request=prepared)
    reason = RemoteDisconnected("Remote end closed connection without response")
    return requests.exceptions.ConnectionError(ProtocolError("Connection aborted.", reason), request=prepared)


def _bytes(body: Any) -> bytes:
    """A prepared body (bytes, text, or the chunks of a generator) as bytes."""
    if body is None or isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body or b"")
    if isinstance(body, str):
        return body.encode("utf-8")
    return b"".join(c.encode("utf-8") if isinstance(c, str) else bytes(c) for c in body)


def _read_timeout(timeout: Any) -> float | None:
    """The read timeout of a `requests` timeout argument (a number, a pair, or urllib3's Timeout)."""
    if isinstance(timeout, tuple):
        timeout = timeout[1] if len(timeout) > 1 else timeout[0]
    read = getattr(timeout, "read_timeout", timeout)
    return float(read) if isinstance(read, (int, float)) else None
