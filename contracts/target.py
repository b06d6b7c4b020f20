"""Where the suites send their requests: the mock in-process, or any server over HTTP.

A server is treated as the mock when `GET /_mock/health` answers `{"status": "ok", ...}`: then
the suites may read codes and move its clock. Anything else is treated as the real API.
"""

from __future__ import annotations

import base64
import json
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from otp_mock_contracts.client import Client, HttpTransport, Transport, WsgiTransport
from otp_mock_contracts.options import OptionsError, RunOptions

# curl commands of an in-process run point where `otp-mock serve` listens by default.
SERVE_DEFAULT_URL = "http://127.0.0.1:8090"
# What schemathesis's ignored_auth check sends as wrong credentials; a mock that accepts it checks no keys.
PROBE_AUTH = "Basic " + base64.b64encode(b"SCHEMATHESIS-INVALID-VALUE:SCHEMATHESIS-INVALID-VALUE").decode()


class TargetError(Exception):
    """The target cannot be tested as asked; the message says what to change."""


@dataclass
class Target:
    """A server under test and what the suites learnt about it before starting."""

    description: str
    base_url: str  # used for requests over HTTP and shown in curl commands
    transport: Transport
    app: Any = None  # the WSGI app when in-process
    is_mock: bool = False
    checks_keys: bool = True  # False: an open-mode mock accepting any credentials
    _workdir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)

    def close(self) -> None:
        if isinstance(self.transport, HttpTransport):
            self.transport.close()
        if self._workdir is not None:
            self._workdir.cleanup()
            self._workdir = None


def credentials(options: RunOptions, is_mock: bool) -> tuple[str, str]:
    """The run's credentials: the given ones, or a fresh key of its own for a mock."""
    if options.dev_key is not None and options.dev_secret is not None:
        return options.dev_key, options.dev_secret
    if not is_mock:
        raise OptionsError(f"{options.base_url} is not the mock (no /_mock/health), so it needs real credentials: "
                           "set OTP_DEV_KEY and OTP_DEV_SECRET (or pass --dev-key/--dev-secret)")
    # A key of its own keeps this run's messages, templates and clock apart from every other run.
    return f"contract-{options.run_id}", secrets.token_urlsafe(24)


def in_process(options: RunOptions, app: Any = None, mock_settings: Mapping[str, Any] | None = None,
               interceptor: Any = None) -> tuple[Target, str, str]:
    """The mock built in this process (or `app`, when a test brings its own variant)."""
    key, secret = credentials(options, is_mock=True)
    workdir = None
    if app is None:
        from mockserver import create_app  # the mock is only needed for in-process runs

        workdir = tempfile.TemporaryDirectory(prefix="otp-contract-")
        keys_file = Path(workdir.name) / "keys.yaml"
        keys_file.write_text(yaml.safe_dump({"keys": [{"dev_key": key, "dev_secret": secret}]}), encoding="utf-8")
        config: dict[str, Any] = {"keys_file": str(keys_file), "validate_responses": "off"}
        if options.seed is not None:
            config["seed"] = options.seed
        app = create_app({**config, **(mock_settings or {})}, interceptor=interceptor)
    target = Target("the mock, in-process", SERVE_DEFAULT_URL, WsgiTransport(app), app=app, is_mock=True,
                    _workdir=workdir)
    return target, key, secret


def over_http(options: RunOptions) -> tuple[Target, str, str]:
    """A server at --base-url; the mock if its control plane answers."""
    assert options.base_url is not None
    transport = HttpTransport(options.base_url)
    is_mock = detect_mock(transport, options.base_url)
    key, secret = credentials(options, is_mock)
    kind = "the mock" if is_mock else "not the mock: treated as the real API"
    return Target(f"{options.base_url} ({kind})", options.base_url, transport, is_mock=is_mock), key, secret


def detect_mock(transport: Transport, base_url: str) -> bool:
    try:
        status, raw = transport.send("GET", "/_mock/health", {"Accept": "application/json"}, None, None)
    except requests.RequestException as exc:
        raise TargetError(f"cannot reach {base_url}: {exc.__class__.__name__}: {exc}. "
                          "Is the server running, and is the URL right?") from None
    if status != 200:
        return False
    try:
        body = json.loads(raw)
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("status") == "ok"


def preflight(target: Target, client: Client) -> None:
    """Fail early on wrong credentials; learn whether a mock checks keys at all."""
    reply = client.list_templates()
    if reply.status == 401:
        hint = ("the mock was started with --keys-file: pass a dev_key/dev_secret from that file"
                if target.is_mock else "check OTP_DEV_KEY/OTP_DEV_SECRET")
        raise TargetError(f"{target.description} refused this run's credentials for dev_key "
                          f"{client.dev_key!r} ({reply.describe()}); {hint}")
    if target.is_mock:
        target.checks_keys = client.list_templates(auth=PROBE_AUTH).status in (401, 403)
