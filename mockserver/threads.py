"""A daemon thread per serving process. Pure.

The mock's background work (housekeeping, the callback sender) runs in a thread of each process
that serves, started by that process's first `ensure()`: threads do not survive a fork, and one
started before a fork would hold locks the children inherit taken. `stop()` ends it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable


class ProcessThread:
    """Runs `target(stopped)` in one daemon thread per process; `target` returns when the event
    `stopped` is set (or when it finds itself in another process than the one it started in)."""

    def __init__(self, name: str, target: Callable[[threading.Event], None]) -> None:
        self.name = name
        self._target = target
        self._pid = 0
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def ensure(self) -> None:
        if self._pid == os.getpid():  # the common case, without the lock
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            self._pid = os.getpid()
            self._stopped = threading.Event()
            thread = self._thread = threading.Thread(target=self._target, args=(self._stopped,), name=self.name,
                                                     daemon=True)
        thread.start()

    def running(self) -> bool:
        """Whether this process's thread was started and not stopped."""
        return self._pid == os.getpid() and not self._stopped.is_set()

    def stop(self, wait: float = 2.0) -> None:
        """End this process's thread, waiting up to `wait` seconds for what it is doing."""
        self._stopped.set()
        self._pid = 0
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread.ident is not None:
            thread.join(wait)
