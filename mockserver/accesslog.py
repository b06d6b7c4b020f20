"""The served mock's line per request, cheap enough for a busy mock.

Going through `logging` (a LogRecord, a formatter, a queue) cost a fifth of the throughput of
two workers (measured with bench/run.py). Here a request formats one short line and appends it
to a list; one thread per process writes what gathered every `flush_seconds`, in one write.
The lines look like the kit's other log lines: `2026-11-25 21:19:51,001 INFO mockserver: ...`.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from mockserver.batching import Batcher
from mockserver.journal import Exchange, mask_query
from mockserver.textsafe import shown


class AccessLog:
    def __init__(self, stream: TextIO | None = None, flush_seconds: float = 0.05, max_pending: int = 10_000) -> None:
        self.stream = stream
        self._lines: Batcher[str] = Batcher(self._write, flush_seconds, max_pending)
        self._second = -1
        self._stamp = ""

    def __call__(self, message: str, at: float) -> None:
        second = int(at)
        if second != self._second:  # the date and time change once a second: format them once
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        self._lines.add(f"{self._stamp},{int(at % 1 * 1000):03d} INFO mockserver: {message}\n")

    def exchange(self, exchange: Exchange) -> None:
        """The line of one served request: `POST /v1/messages -> 400 code=3004 key=team-a 1.2ms`,
        and the mock's note on it if it has one (`note: X-Mock-Error: 2002 ignored: ...`)."""
        body = exchange.reply_body
        if exchange.operation == "inbox" and exchange.status == 200 and isinstance(body, dict) \
                and not body.get("messages"):
            return  # an open console's poll that found nothing new: two a second per tab
        code = body.get("code") if isinstance(body, dict) and exchange.status != 200 else None
        where = shown(exchange.path + (f"?{mask_query(exchange.query)}" if exchange.query else ""), 200)
        note = f" note: {shown(exchange.note, 400)}" if exchange.note else ""
        key = f" key={shown(exchange.tenant, 60)}" if exchange.tenant is not None else ""  # none: no key's
        self(f"{shown(exchange.method, 16)} {where} -> {exchange.status}{f' code={code}' if code else ''}{key} "
             f"{exchange.duration_ms:.1f}ms{note}", exchange.at)

    def flush(self) -> None:
        self._lines.flush()

    def _write(self, lines: list[str]) -> None:
        stream = self.stream or sys.stderr
        try:
            stream.write("".join(lines))
            stream.flush()
        except (OSError, ValueError):  # the terminal went away: serving goes on
            pass
