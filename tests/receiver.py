"""A real HTTP receiver of callbacks on 127.0.0.1 for the tests: it keeps every POST (headers and
JSON body) and answers as its `mode` says: ok (200), fail (500), flaky (500 to every other post) or slow
(sleeps past a timeout, then 200)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    headers: dict[str, str]
    body: Any
    path: str
    answered: int = 0


class Receiver:
    def __init__(self) -> None:
        self.posts: list[Received] = []
        self.mode = "ok"
        self.slow_seconds = 1.0
        self.lock = threading.Lock()

    @property
    def callbacks(self) -> list[Received]:
        """The posts that carried rows (not the URL checks' `{}`)."""
        with self.lock:
            return [p for p in self.posts if isinstance(p.body, dict) and "rows" in p.body]

    def rows(self, answered: int | None = None) -> list[dict[str, Any]]:
        """The rows received (only those of posts answered `answered`, when given)."""
        return [row for post in self.callbacks if answered in (None, post.answered) for row in post.body["rows"]]

    def statuses(self, message_id: str) -> list[str]:
        return [r["status"]["message_status"] for r in self.rows() if r.get("message_id") == message_id]

    def wait(self, done: Callable[[], bool], seconds: float = 10.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # bounded
            if done():
                return
            time.sleep(0.02)
        raise AssertionError(f"not done after {seconds} s; received {len(self.posts)} posts: "
                             f"{[p.body for p in self.posts][-5:]}")


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server name
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with receiver.lock:
                mode = receiver.mode
                status = 500 if mode == "fail" or (mode == "flaky" and len(receiver.posts) % 2) else 200
                receiver.posts.append(Received(dict(self.headers.items()), body, self.path, status))
            if mode == "slow":
                time.sleep(receiver.slow_seconds)
            answer = b'{"ok": true}' if status == 200 else b'{"error": "receiver broke"}'
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)
            except OSError:
                pass  # the mock gave up on a slow answer

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@contextmanager
def receiver(port: int = 0, into: Receiver | None = None) -> Iterator[tuple[Receiver, str]]:
    """A receiver listening on 127.0.0.1 (`port` 0: a free one), and its URL."""
    kept = into or Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(kept))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield kept, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def readme_receiver() -> tuple[Any, dict[str, Any]]:
    """The README's Flask receiver ("Callbacks (webhooks)"), run as written: its test client and
    the names it defines (USERNAME, SECRET, app)."""
    from pathlib import Path

    readme = Path(__file__).resolve().parent.parent / "README.md"
    section = readme.read_text(encoding="utf-8").split("\n## Callbacks (webhooks)\n", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {"__name__": "readme_receiver"}
    exec(compile(code, "README.md", "exec"), scope)  # noqa: S102 - the README's own example
    return scope["app"].test_client(), scope
