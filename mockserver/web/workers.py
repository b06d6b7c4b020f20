"""`otp-mock serve --workers N`: N worker processes under gunicorn, sharing one store.

Each worker builds its own app after the fork (no connection or lock crosses a fork); state is
shared through the store, so a code sent through one worker verifies through another, once.
"""

from __future__ import annotations

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


def run(settings: Settings, workers: int, factory: Callable[[], Flask], announce: Callable[[str], None]) -> None:
    """Serve until SIGINT/SIGTERM; `announce` gets the base URL once the workers are up."""
    port = settings.port or free_port(settings.host)
    base = f"http://{settings.host}:{port}"
    options = {
        "bind": f"{settings.host}:{port}",
        "workers": workers,
        "worker_class": "gthread",
        "threads": settings.threads,
        "control_socket_disable": True,
        "accesslog": None,
        "graceful_timeout": 5,
        "when_ready": lambda _server: announce(base),
    }
    _Gunicorn(factory, options).run()
