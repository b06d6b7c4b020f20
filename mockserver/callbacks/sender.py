"""The background sender of a process: a daemon thread that routes new stream records into
deliveries and attempts the due ones, every `linger` seconds, while any callback is configured.
It never runs on a request's thread, so no API call waits on a receiver. A process forked from
the one that started it starts its own on its first `ensure()` (threads do not survive a fork).
"""

from __future__ import annotations

import logging
import os
import threading
import time

from mockserver.callbacks.service import Callbacks

log = logging.getLogger("mockserver")
IDLE_SECONDS = 0.5  # how often a process with no callback configured looks again


class Sender:
    def __init__(self, callbacks: Callbacks, linger: float,
                 unavailable: tuple[type[BaseException], ...] = (OSError,)) -> None:
        self.callbacks = callbacks
        self.linger = max(0.01, linger)
        self.unavailable = unavailable
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
            thread = self._thread = threading.Thread(target=self._run, name="callbacks", daemon=True)
        thread.start()

    def stop(self, wait: float = 2.0) -> None:
        """End this process's sender, waiting up to `wait` seconds for a pass under way (an
        attempt lasts at most callback_timeout_seconds; one cut short is retried by its lease)."""
        self._stopped.set()
        self._pid = 0
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread.ident is not None:
            thread.join(wait)

    def pass_once(self) -> int:
        """Route what is new and attempt what is due; returns how much was done."""
        if not self.callbacks.active():
            return 0
        return self.callbacks.route() + self.callbacks.attempt_due()

    def _run(self) -> None:
        pid, stopped = os.getpid(), self._stopped
        while self._pid == pid and not stopped.is_set():
            started = time.monotonic()
            try:
                busy = self.pass_once()
            except self.unavailable as exc:
                log.warning("callbacks: store unavailable: %s", exc)
                busy = 0
            except Exception:  # noqa: BLE001 - the sender goes on; the mock logs what failed
                log.exception("callbacks: a pass failed")
                busy = 0
            if not busy:
                wait = self.linger if self.callbacks.active() else IDLE_SECONDS
                stopped.wait(max(0.0, wait - (time.monotonic() - started)))
