"""The background sender of a process: a daemon thread that routes new stream records into
deliveries and attempts the due ones, every `linger` seconds, while any callback is configured.
It never runs on a request's thread, so no API call waits on a receiver; each serving process
has its own (mockserver.threads).
"""

from __future__ import annotations

import logging
import threading
import time

from mockserver.callbacks.service import Callbacks
from mockserver.threads import ProcessThread

log = logging.getLogger("mockserver")
IDLE_SECONDS = 0.5  # how often a process with no callback configured looks again


class Sender:
    def __init__(self, callbacks: Callbacks, linger: float,
                 unavailable: tuple[type[BaseException], ...] = (OSError,)) -> None:
        self.callbacks = callbacks
        self.linger = max(0.01, linger)
        self.unavailable = unavailable
        self._thread = ProcessThread("callbacks", self._run)

    def ensure(self) -> None:
        self._thread.ensure()

    def stop(self, wait: float = 2.0) -> None:
        """End this process's sender, waiting up to `wait` seconds for a pass under way (an
        attempt lasts at most callback_timeout_seconds; one cut short is retried by its lease)."""
        self._thread.stop(wait)

    def pass_once(self) -> int:
        """Route what is new and attempt what is due; returns how much was done."""
        if not self.callbacks.active():
            return 0
        return self.callbacks.route() + self.callbacks.attempt_due()

    def _run(self, stopped: threading.Event) -> None:
        while not stopped.is_set():
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
