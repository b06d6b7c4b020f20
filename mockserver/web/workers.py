"""`otp-mock serve --workers N`: N worker processes under gunicorn, sharing one store.

The app is built once, in the master, and the workers are forked from it (`preload_app`), so
the compiled contract and the imported modules sit in memory pages the processes share; the
objects are frozen out of the garbage collector's reach first (`gc.freeze`), so collections in
a worker do not copy those pages. No connection crosses the fork: the stores open their own in
each process (they check the pid). State is shared through the store, so a code sent through
one worker verifies through another, once.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

from mockserver.config import Settings


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self._factory = factory
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._factory()


def free_port(host: str) -> int:
    """A port the OS says is free now (gunicorn needs a number to print the URL)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def options(settings: Settings, workers: int, port: int) -> dict[str, Any]:
    """The server's settings: the benchmark serves its bare Flask app with these same ones."""
    return {
        "bind": f"{settings.host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": settings.threads,
        "control_socket_disable": True,
        "accesslog": None,
        "graceful_timeout": 5,
        "preload_app": True,
        "pre_fork": lambda _server, _worker: gc.freeze(),
    }


def run(settings: Settings, workers: int, factory: Callable[[], Flask], announce: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM; `announce` gets the base URL once the workers are up."""
    port = settings.port or free_port(settings.host)
    base = f"http://{settings.host}:{port}"
    serve(factory, {**options(settings, workers, port), "when_ready": lambda _server: announce(base)})


def serve(factory: Callable[[], Flask], settings: dict[str, Any]) -> None:
    _Gunicorn(factory, settings).run()
