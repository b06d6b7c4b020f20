"""Fixture ladder: settings -> app -> client (validating every response) -> helpers.

Every response a test sees through `client` is validated against the contract by an
independent implementation (schemathesis), not by the mock's own validator; control-plane
responses are validated against the control plane's document the same way.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from werkzeug.test import TestResponse

from mockserver import create_app
from mockserver.otp.clock import ManualClock

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi.yaml"
ADMIN_SPEC = ROOT / "mockserver" / "data" / "admin-openapi.yaml"
PHONE = "+6591234567"


def basic(key: str = "team-a", secret: str = "s3cret") -> dict[str, str]:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


class ResponseValidator:
    """Find the documented operation of a request and validate the response against it."""

    def __init__(self, *spec_paths: Path) -> None:
        self.routes: list[tuple[str, re.Pattern[str], Any]] = []
        for path in spec_paths:
            schema = schemathesis.openapi.from_path(str(path))
            for result in schema.get_all_operations():
                operation = result.ok()
                pattern = re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(operation.path))
                self.routes.append((operation.method.upper(), re.compile(f"^{pattern}$"), operation))
        self.checked = 0

    def validate(self, method: str, path: str, response: Any) -> None:
        """Validate a werkzeug (in-process) or requests (real HTTP) response."""
        for route_method, pattern, operation in self.routes:
            if route_method == method.upper() and pattern.match(path.split("?")[0]):
                operation.validate_response(response)
                self.checked += 1
                return
        # Not an operation of either contract (404/405): it must still be the JSON envelope.
        body = response.get_json() if isinstance(response, TestResponse) else response.json()
        assert response.status_code in (404, 405), f"{method} {path} is undocumented"
        assert set(body) == {"code", "message"}, body


class Client:
    """A test client that authenticates by default and validates every response."""

    def __init__(self, app: Flask, validator: ResponseValidator) -> None:
        self.raw = app.test_client()
        self.validator = validator

    def call(self, method: str, path: str, key: str | None = "team-a", **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}) or {})
        if key is not None and "Authorization" not in headers:
            headers.update(basic(key))
        response = self.raw.open(path, method=method, headers=headers, **kwargs)
        self.validator.validate(method, path, response)
        return response

    def post(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("POST", path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("GET", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> TestResponse:
        return self.call("DELETE", path, **kwargs)

    # helpers of the OTP flow ------------------------------------------------------------------
    def send(self, to: str = PHONE, template: str = "test-template-1", key: str = "team-a",
             **template_fields: Any) -> TestResponse:
        return self.post("/v1/messages", json={"to": to, "template": {"id": template, **template_fields}}, key=key)

    def code_of(self, message_id: str) -> str:
        return str(self.get(f"/_mock/messages/{message_id}", key=None).get_json()["code"])

    def verify(self, message_id: str, code: str, key: str = "team-a") -> TestResponse:
        return self.post("/v1/verifications", json={"message_id": message_id, "verify_code": code}, key=key)

    def advance(self, seconds: float, dev_key: str | None = None) -> None:
        body: dict[str, Any] = {"advance_seconds": seconds}
        if dev_key:
            body["dev_key"] = dev_key
        assert self.post("/_mock/clock", json=body, key=None).status_code == 200


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("OTP_MOCK_") or name.startswith("OTP_DEV_"):
            monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="session")
def validator() -> ResponseValidator:
    return ResponseValidator(SPEC, ADMIN_SPEC)


@pytest.fixture
def settings() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change the mock's settings."""
    return {}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def app(settings: dict[str, Any], clock: ManualClock) -> Flask:
    config = {"seed": 1234, "validate_responses": "raise", **settings}
    return create_app(config, clock=clock)


@pytest.fixture
def client(app: Flask, validator: ResponseValidator) -> Client:
    return Client(app, validator)


@pytest.fixture
def make_client(validator: ResponseValidator, clock: ManualClock) -> Iterator[Callable[..., Client]]:
    def make(**settings: Any) -> Client:
        config = {"seed": 1234, "validate_responses": "raise", **settings}
        return Client(create_app(config, clock=clock), validator)

    yield make


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's Chromium through Playwright (tests/browser.py), one per test module: Playwright's
    sync API runs an asyncio loop in the main thread while it is open, so a session-wide browser
    would make every later `asyncio.run` fail ("cannot be called from a running event loop")."""
    from browser import chromium

    with chromium() as running:
        yield running


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page at 1280x800 whose JavaScript errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"

