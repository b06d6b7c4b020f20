"""`otp-mock listen --forward-to URL`: the `stripe listen` of the mock, with no account. It
listens on loopback, registers itself as the callback URL of a running mock (PUT
/_mock/callbacks, with a username and secret of its own unless given), and for each delivery:
checks the X-CALLBACK-ID signature, prints a line per row, forwards the delivery as it came (body
and headers) to your receiver, prints the receiver's answer and gives it back to the mock (so a
failing receiver gets the mock's retries). A delivery whose signature does not verify is
reported and not forwarded (401). On exit it removes the configuration it made.

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

MAX_BODY = 16 * 1024 * 1024  # bytes of one delivery the listener reads
FORWARDED = ("Content-Type", HEADER, "Authorization", "User-Agent")
Printer = Callable[[str], None]


class ListenError(Exception):
    """The listener cannot start: the mock does not answer, or refuses the registration."""


class Listener:
    def __init__(self, mock_url: str, forward_to: str | None, *, dev_key: str | None = None,
                 token: str | None = None, host: str = "127.0.0.1", port: int = 0, username: str = "otp-mock-listen",
                 secret: str | None = None, tolerance: float = 300, timeout: float = 10.0,
                 out: Printer = print) -> None:
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
        self.forwarder = Transport("any", timeout, max_response=65536)
        self.server = ThreadingHTTPServer((host, port), _handler(self))
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}/"
        self._lock = threading.Lock()

    # the mock -----------------------------------------------------------------------------
    def register(self) -> dict[str, Any]:
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
        query = f"?dev_key={urllib.parse.quote(self.dev_key)}" if self.dev_key else ""
        status, _ = self._control("DELETE", "/_mock/callbacks" + query, None)
        return status == 200

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
        for row in body.get("rows") or []:
            self._print(f"{_now()}  {describe(row)}  [{verdict or 'signature ok'}]")
        if verdict is not None:
            self._print(f"  !! not forwarded: {verdict}")
            return 401, json.dumps({"error": verdict}).encode()
        if self.forward_to is None:
            return 200, b'{"ok": true}'
        sent = {name: headers[name] for name in FORWARDED if name in headers}
        answer = self.forwarder.post(self.forward_to, raw, sent)
        if answer.status is None:
            self._print(f"  -> {self.forward_to}: {answer.error} ({answer.duration_ms:.0f} ms)")
            return 502, json.dumps({"error": answer.error}).encode()
        shown = (answer.body or "").replace("\n", " ")[:200]
        self._print(f"  -> {answer.status} from {self.forward_to} ({answer.duration_ms:.0f} ms) {shown}".rstrip())
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
    """One row as one line: its kind, event and what it is about."""
    if "status" in row and isinstance(row["status"], dict):
        status = row["status"]
        error = f" error_code={status['error_code']}" if status.get("error_code") else ""
        return (f"message_status  {status.get('message_status')}  message_id={row.get('message_id')} "
                f"to={row.get('to')} channel={row.get('channel')}{error}")
    for kind, field in (("notification", "notification"), ("message_response", "response"),
                        ("system_event", "system_event")):
        if isinstance(row.get(field), dict):
            return f"{kind}  {row[field].get('event')}"
    return "unknown row  " + json.dumps(row)[:120]


def _now() -> str:
    return time.strftime("%H:%M:%S")


def _handler(listener: Listener) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            length = self.headers.get("Content-Length") or "0"
            size = int(length) if length.isdigit() else -1
            if not 0 <= size <= MAX_BODY:
                self._answer(413, b'{"error": "body too large or of no length"}')
                return
            headers = {name: self.headers[name] for name in FORWARDED if self.headers.get(name) is not None}
            status, body = listener.receive(headers, self.rfile.read(size))
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
