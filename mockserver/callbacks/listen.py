"""`otp-mock listen --forward-to URL`: the `stripe listen` of the mock, with no account. It
listens on loopback, registers itself as the callback URL of a running mock (PUT
/_mock/callbacks, with a username and secret of its own unless given), and for each delivery:
checks the X-CALLBACK-ID signature, prints a line per row, forwards the delivery as it came (body
and headers) to your receiver, prints the receiver's answer and gives it back to the mock (so a
failing receiver gets the mock's retries). A delivery whose signature does not verify is
reported and not forwarded (401), and its rows are not printed; a body that is not an
envelope of rows (objects) is a 400. Printed values have their control characters escaped. A
configuration already there is kept: registering refuses unless `replace` (then the old one is
gone for good: the mock never shows a secret, so it cannot be put back). On exit it removes the
configuration it made, only if it is still the one there.

Pure of any web framework: the standard library's HTTP server and client.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mockserver.callbacks.signing import HEADER, InvalidSignature, check_callback_id
from mockserver.callbacks.transport import Transport
from mockserver.textsafe import shown as safe

MAX_BODY = 16 * 1024 * 1024  # bytes of one delivery the listener reads
READ_SECONDS = 10.0  # a connection that sends nothing for this long is dropped (a Content-Length never met)
FORWARDED = ("Content-Type", HEADER, "Authorization", "User-Agent")
Printer = Callable[[str], None]


class ListenError(Exception):
    """The listener cannot start: the mock does not answer, or refuses the registration."""


class Listener:
    def __init__(self, mock_url: str, forward_to: str | None, *, dev_key: str | None = None,
                 token: str | None = None, host: str = "127.0.0.1", port: int = 0, username: str = "otp-mock-listen",
                 secret: str | None = None, tolerance: float = 300, timeout: float = 10.0,
                 out: Printer = print, replace: bool = False, read_seconds: float = READ_SECONDS) -> None:
        if not mock_url.startswith(("http://", "https://")):
            raise ListenError(f"--mock: expected the mock's http:// URL, got {mock_url[:80]!r}")
        self.mock_url = mock_url.rstrip("/")
        self.forward_to = forward_to
        self.dev_key = dev_key
        self.token = token
        self.username = username
        self.secret = secret or "whsec_" + secrets.token_urlsafe(24)
        self.secret_given = secret is not None
        self.tolerance = tolerance
        self.out = out
        self.replace = replace
        self.forwarder = Transport("any", timeout, max_response=65536)
        self.server = _Server((host, port), _handler(self, read_seconds))
        self.url = f"http://{host}:{self.server.server_address[1]}/"
        self._lock = threading.Lock()

    # the mock -----------------------------------------------------------------------------
    def register(self) -> dict[str, Any]:
        status, there = self._control("GET", "/_mock/callbacks" + self._query(), None)
        if status == 200 and isinstance(there, dict) and there.get("url") != self.url and not self.replace:
            raise ListenError(f"the mock already sends {self._whose()} callbacks to {safe(there.get('url'))}; "
                              "kept (pass --replace to take its place: it cannot be put back, the mock never "
                              "shows its secret)")
        body: dict[str, Any] = {"url": self.url, "username": self.username, "secret": self.secret,
                                "description": "otp-mock listen"}
        if self.dev_key:
            body["dev_key"] = self.dev_key
        status, reply = self._control("PUT", "/_mock/callbacks", body)
        if status != 200:
            raise ListenError(f"the mock at {self.mock_url} refused the registration ({status}): "
                              f"{reply.get('message', reply) if isinstance(reply, dict) else reply}")
        return reply if isinstance(reply, dict) else {}

    def unregister(self) -> bool:
        """Remove the configuration this listener made, if it is still the one there."""
        status, there = self._control("GET", "/_mock/callbacks" + self._query(), None)
        if status != 200 or not isinstance(there, dict) or there.get("url") != self.url:
            return False  # gone, or someone else's now: theirs stays
        status, _ = self._control("DELETE", "/_mock/callbacks" + self._query(), None)
        return status == 200

    def _query(self) -> str:
        return f"?dev_key={urllib.parse.quote(self.dev_key)}" if self.dev_key else ""

    def _whose(self) -> str:
        return f"dev_key {safe(self.dev_key)}'s" if self.dev_key else "everyone's"

    def _control(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = b"" if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.mock_url + path, data=data, headers=headers,  # noqa: S310 - http(s)
                                         method=method)
        try:
            with urllib.request.urlopen(request, timeout=15) as reply:  # noqa: S310 - the user's mock URL
                return reply.status, json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                return error.code, json.loads(error.read() or b"null")
            except ValueError:
                return error.code, None
        except (OSError, ValueError) as exc:
            raise ListenError(f"no mock answers at {self.mock_url} ({exc}); start one with `otp-mock serve`, "
                              "or say where with --mock") from None

    # deliveries ---------------------------------------------------------------------------
    def receive(self, headers: dict[str, str], raw: bytes) -> tuple[int, bytes]:
        """One delivery: check, print, forward; the status and body to answer the mock."""
        try:
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            body = None
        if not isinstance(body, dict) or "rows" not in body:
            self._print(f"{_now()}  URL check from the mock: answered 200")
            return 200, b'{"ok": true}'
        verdict = self._verdict(headers.get(HEADER))
        if verdict is not None:  # nothing of an unverified body is printed but its size
            self._print(f"{_now()}  a delivery of {len(raw)} bytes: {safe(verdict, 300)}")
            self._print("  !! not forwarded: signature INVALID")
            return 401, json.dumps({"error": verdict}).encode()
        rows = body.get("rows")
        if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
            self._print(f"{_now()}  a signed delivery that is not an envelope of rows: answered 400")
            return 400, b'{"error": "rows: expected a list of objects"}'
        for row in rows:
            self._print(f"{_now()}  {describe(row)}  [signature ok]")
        if self.forward_to is None:
            return 200, b'{"ok": true}'
        sent = {name: headers[name] for name in FORWARDED if name in headers}
        answer = self.forwarder.post(self.forward_to, raw, sent)
        if answer.status is None:
            self._print(f"  -> {self.forward_to}: {safe(answer.error, 300)} ({answer.duration_ms:.0f} ms)")
            return 502, json.dumps({"error": answer.error}).encode()
        said = safe((answer.body or "").replace("\n", " "), 200)
        self._print(f"  -> {answer.status} from {self.forward_to} ({answer.duration_ms:.0f} ms) {said}".rstrip())
        return answer.status, (answer.body or "").encode()

    def _verdict(self, header: str | None) -> str | None:
        try:
            check_callback_id(header, self.username, self.secret, self.tolerance)
        except InvalidSignature as exc:
            return f"signature INVALID: {exc}"
        return None

    def _print(self, line: str) -> None:
        with self._lock:
            self.out(line)

    def serve(self, stop: threading.Event) -> None:
        """Answer deliveries until `stop` is set (bounded waits)."""
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        thread.start()
        while not stop.wait(0.2):
            pass
        self.server.shutdown()
        self.server.server_close()
        thread.join(5)


def describe(row: dict[str, Any]) -> str:
    """One row as one line: its kind, event and what it is about (control characters escaped)."""
    if "status" in row and isinstance(row["status"], dict):
        status = row["status"]
        error = f" error_code={safe(status['error_code'], 20)}" if status.get("error_code") else ""
        return (f"message_status  {safe(status.get('message_status'), 40)}  "
                f"message_id={safe(row.get('message_id'), 40)} to={safe(row.get('to'), 40)} "
                f"channel={safe(row.get('channel'), 40)}{error}")
    for kind, field in (("notification", "notification"), ("message_response", "response"),
                        ("system_event", "system_event")):
        if isinstance(row.get(field), dict):
            return f"{kind}  {safe(row[field].get('event'), 60)}"
    return "unknown row  " + safe(json.dumps(row), 120)


def _now() -> str:
    return time.strftime("%H:%M:%S")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection that broke or stalled is dropped; no traceback


def _handler(listener: Listener, read_seconds: float) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = read_seconds  # the connection's socket: a body shorter than its Content-Length ends here

        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            length = self.headers.get("Content-Length") or "0"
            size = int(length) if length.isascii() and length.isdigit() else -1
            if not 0 <= size <= MAX_BODY:
                self._answer(413, b'{"error": "body too large or of no length"}')
                return
            headers = {name: self.headers[name] for name in FORWARDED if self.headers.get(name) is not None}
            try:
                raw = self.rfile.read(size)
            except OSError:
                self.close_connection = True
                return
            if len(raw) < size:
                self.close_connection = True
                return  # the body never came whole
            status, body = listener.receive(headers, raw)
            self._answer(status, body)

        def _answer(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    return Handler
