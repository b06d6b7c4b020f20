"""What the client adapters share: a client's request as the mock's ApiRequest, the reply's
headers as the served mock writes them, and which URLs a mock answers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol
from urllib.parse import unquote_to_bytes, urlsplit

from mockserver.pipeline import ApiReply, ApiRequest

DEFAULT_BASE_URL = "https://otp.api.engagelab.cc"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
LIVE_PORTS: set[int] = set()  # loopback ports of this process's served mocks (no_network allows them)
ORIGINAL_URL = "x-otp-mock-url"  # on a request forwarded to the served mock (target="server")
EMPTY_REPLY_NOTE = "the mock's hang fault: the served mock drops the connection after hang_seconds"


class Answerer(Protocol):
    """What the adapters answer through (an OtpMocker)."""

    sleep_delays: bool

    def answer(self, request: ApiRequest, url: str) -> ApiReply: ...

    def max_body_bytes(self) -> int: ...

    def passthrough(self) -> bool: ...


def api_request(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes, max_body: int) -> ApiRequest:
    """The request as the served mock's WSGI adapter would hand it to the mock: the path
    percent-decoded (as WSGI's PATH_INFO), header names lower-case, an oversized body dropped."""
    parts = urlsplit(url)
    path = unquote_to_bytes(parts.path or "/").decode("latin-1")
    lowered = {name.lower(): value for name, value in headers}
    too_large = len(body) > max_body
    return ApiRequest(method.upper(), path, lowered, b"" if too_large else body, {}, too_large, parts.query)


def reply_headers(reply: ApiReply, data: bytes) -> list[tuple[str, str]]:
    """The headers the served mock sends with a reply."""
    headers = [("Content-Type", "application/json")] if reply.body is not None else []
    return [*headers, ("Content-Length", str(len(data))), *reply.headers.items()]


def url_pattern(base_urls: Iterable[str]) -> re.Pattern[str]:
    """A regular expression for every URL under one of the base URLs."""
    bases = "|".join(re.escape(base.rstrip("/")) for base in base_urls)
    return re.compile(rf"(?:{bases})(?:[/?#].*)?\Z", re.IGNORECASE)


def split_base(url: str, base_urls: Iterable[str]) -> str | None:
    """The part of `url` after the base URL it starts with (path and query), or None."""
    for base in base_urls:
        stem = base.rstrip("/")
        if url.lower().startswith(stem.lower()) and (len(url) == len(stem) or url[len(stem)] in "/?#"):
            return url[len(stem):] or "/"
    return None


def forwarded_headers(url: str) -> Mapping[str, str]:
    """The headers a forwarded request carries: the Host the client called, and its URL for
    the served mock's records (waitress drops X-Forwarded-* headers of untrusted proxies)."""
    return {"Host": urlsplit(url).netloc, ORIGINAL_URL: url}


def url_of(request: ApiRequest) -> str:
    """The URL a served request was sent to: the client's own when it was forwarded."""
    original = request.header(ORIGINAL_URL)
    if original:
        return original
    host = request.header("host") or "127.0.0.1"
    return f"http://{host}{request.path}" + (f"?{request.query}" if request.query else "")


def half(data: bytes) -> tuple[int, int]:
    """What a client reads of an incomplete body: (bytes read, bytes still expected)."""
    read = len(data) // 2
    return read, len(data) - read


def refused(method: str, url: str, base_urls: Iterable[str]) -> str:
    bases = ", ".join(base_urls)
    return (f"otp_mock refused {method} {url}: the mock answers {bases} only. Add the URL to base_urls=[...] "
            "if it is the OTP API, pass passthrough=True to let other URLs reach the network, or stub them "
            "on mocker.responses (requests)")
