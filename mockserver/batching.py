"""Items gathered by request threads and written in batches by one thread per process.

The served mock's request lines use it (the journal is written with each request, see
journal.py): a request only appends to a list; a thread writes what gathered every `every`
seconds (or the request that fills the list to `max_pending` writes it, so memory stays
bounded). A process forked from
another drops the items it inherited (they are its parent's to write) and starts its own
thread; at exit, what remains is written.
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Batcher(Generic[T]):
    def __init__(self, write: Callable[[list[T]], None], every: float, max_pending: int) -> None:
        self._write = write
        self.every = every
        self.max_pending = max_pending
        self._items: list[T] = []
        self._lock = threading.Lock()
        self._pid = 0  # the process whose thread runs

    def add(self, item: T) -> None:
        if self._pid != os.getpid():
            self._start()
        with self._lock:
            self._items.append(item)
            full = len(self._items) >= self.max_pending
        if full:  # the thread fell behind: this caller writes the batch
            self.flush()

    def flush(self) -> None:
        with self._lock:
            batch, self._items = self._items, []
        if batch:
            self._write(batch)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._items = []
        threading.Thread(target=self._write_forever, name="batch-writer", daemon=True).start()
        atexit.register(self.flush)

    def _write_forever(self) -> None:
        pid = os.getpid()
        while self._pid == pid:
            time.sleep(self.every)
            self.flush()
