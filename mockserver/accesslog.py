"""The served mock's line per request, cheap enough for a busy mock.

Going through `logging` (a LogRecord, a formatter, a queue) cost a fifth of the throughput of
two workers (measured with bench/run.py). Here a request formats one short line and appends it
to a list; one thread per process writes what gathered every `flush_seconds`, in one write.
The lines look like the kit's other log lines: `2026-11-25 21:19:51,001 INFO mockserver: ...`.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from typing import TextIO


class AccessLog:
    def __init__(self, stream: TextIO | None = None, flush_seconds: float = 0.05, max_pending: int = 10_000) -> None:
        self.stream = stream
        self.flush_seconds = flush_seconds
        self.max_pending = max_pending
        self._lines: list[str] = []
        self._lock = threading.Lock()
        self._pid = 0
        self._second = -1
        self._stamp = ""

    def __call__(self, message: str, at: float) -> None:
        second = int(at)
        if second != self._second:  # the date and time change once a second: format them once
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
            self._second = second
        line = f"{self._stamp},{int(at % 1 * 1000):03d} INFO mockserver: {message}\n"
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            self._lines.append(line)
            full = len(self._lines) >= self.max_pending
        if full:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            lines, self._lines = self._lines, []
        if lines:
            stream = self.stream or sys.stderr
            try:
                stream.write("".join(lines))
                stream.flush()
            except (OSError, ValueError):  # the terminal went away: serving goes on
                pass

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._lines = []  # lines inherited through a fork were the parent's to write
        threading.Thread(target=self._write_forever, name="access-log", daemon=True).start()
        atexit.register(self.flush)

    def _write_forever(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(self.flush_seconds)
            self.flush()
