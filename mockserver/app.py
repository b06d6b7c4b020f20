"""The app factory: the mock (`OtpMock`) as a Flask app, for any WSGI server. The mock's routes
are served by its WSGI adapter in front of Flask (`web/wsgi.py`); Flask serves the console's
pages (`web/console.py`).

    >>> app = create_app({"seed": 7})
    >>> app.test_client().get("/_mock/health").status_code
    200
    >>> app.mock.control.clock().offset_seconds
    0.0
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from mockserver.config import Settings
from mockserver.mock import OtpMock
from mockserver.otp.clock import Clock
from mockserver.pipeline import Interceptor
from mockserver.store import Store
from mockserver.web.console import PREFIX, register_console
from mockserver.web.wsgi import MockWSGI


class MockApp(Flask):
    """A Flask app serving one OtpMock, which stays reachable as `app.mock`."""

    mock: OtpMock


def create_app(
    config: Settings | Mapping[str, Any] | None = None,
    *,
    clock: Clock | None = None,
    store: Store | None = None,
    interceptor: Interceptor | None = None,
    mock: OtpMock | None = None,
) -> MockApp:
    """A Flask app serving `mock`, or a mock built from `config` (a Settings or a mapping of
    setting names) with the given clock, store and interceptor."""
    mock = mock or OtpMock(config, clock=clock, store=store, interceptor=interceptor)
    app = MockApp("mockserver")
    app.mock = mock
    app.config.update(MAX_CONTENT_LENGTH=mock.settings.max_body_bytes)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # JSON keeps the order it was given
    register_console(app)
    app.wsgi_app = MockWSGI(mock, app.wsgi_app, (PREFIX,))  # type: ignore[method-assign]
    return app
