"""CORS: the API open to any origin by default (or a list, or off), the control plane to
loopback origins and control_origins only; preflights, and errors carrying the header too."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import PHONE, Client, basic

APP = "http://localhost:5173"
SEND = {"to": PHONE, "template": {"id": "test-template-1"}}


def preflight(client: Client, path: str, origin: str, method: str = "POST") -> Any:
    return client.raw.open(path, method="OPTIONS", headers={
        "Origin": origin, "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization, content-type"})


def test_a_preflight_of_the_api_allows_any_origin_by_default(client: Client) -> None:
    reply = preflight(client, "/v1/messages", APP)
    assert reply.status_code == 200
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert reply.headers["Access-Control-Allow-Methods"] == "POST"
    allowed = {h.strip().lower() for h in reply.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "prefer", "x-mock-scenario"} <= allowed
    assert int(reply.headers["Access-Control-Max-Age"]) > 0


@pytest.mark.parametrize("call", ["success", "error-401", "error-3002", "404", "405"])
def test_every_api_reply_to_an_origin_carries_the_header(client: Client, call: str) -> None:
    headers = {"Origin": APP}
    if call == "success":
        reply = client.post("/v1/messages", json=SEND, headers={**basic(), **headers})
    elif call == "error-401":
        reply = client.post("/v1/messages", json=SEND, key=None, headers=headers)
    elif call == "error-3002":
        reply = client.post("/v1/messages", json={"to": PHONE}, headers={**basic(), **headers})
    elif call == "404":
        reply = client.raw.get("/v1/nothing", headers=headers)
    else:
        reply = client.raw.get("/v1/messages", headers=headers)
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    assert "X-Mock-Note" in reply.headers["Access-Control-Expose-Headers"]


def test_a_reply_without_an_origin_has_no_cors_header(client: Client) -> None:
    reply = client.post("/v1/messages", json=SEND)
    assert "Access-Control-Allow-Origin" not in reply.headers


@pytest.mark.parametrize("settings", [{"cors_origins": ["http://localhost:5173", "https://app.example.com"]}])
def test_a_list_of_origins_echoes_the_allowed_and_refuses_the_others(client: Client) -> None:
    allowed = client.post("/v1/messages", json=SEND, headers={**basic(), "Origin": "https://app.example.com"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert allowed.headers["Vary"] == "Origin"
    other = client.post("/v1/messages", json={**SEND, "to": "+6591230000"},
                        headers={**basic(), "Origin": "http://127.0.0.1:3000"})
    assert other.status_code == 200 and "Access-Control-Allow-Origin" not in other.headers  # the browser blocks it
    assert "Access-Control-Allow-Origin" not in preflight(client, "/v1/messages", "http://127.0.0.1:3000").headers


@pytest.mark.parametrize("settings", [{"cors_origins": "off"}])
def test_cors_off_sends_no_header(client: Client) -> None:
    assert "Access-Control-Allow-Origin" not in preflight(client, "/v1/messages", APP).headers
    reply = client.post("/v1/messages", json=SEND, headers={**basic(), "Origin": APP})
    assert "Access-Control-Allow-Origin" not in reply.headers


@pytest.mark.parametrize(("origin", "allowed"), [
    ("http://localhost:5173", True), ("http://127.0.0.1:8080", True), ("http://[::1]:3000", True),
    ("https://evil.example", False), ("http://127.0.0.1.nip.io", False), ("null", False),
])
def test_the_control_plane_allows_loopback_origins_only(client: Client, origin: str, allowed: bool) -> None:
    reply = client.raw.get("/_mock/messages", headers={"Origin": origin})
    assert (reply.headers.get("Access-Control-Allow-Origin") == origin) is allowed
    flight = preflight(client, "/_mock/reset", origin)
    assert (flight.headers.get("Access-Control-Allow-Origin") == origin) is allowed


def test_control_origins_open_the_control_plane_to_more(make_client: Any) -> None:
    client = make_client(control_origins=["https://qa.example.com"])
    reply = client.raw.get("/_mock/messages", headers={"Origin": "https://qa.example.com"})
    assert reply.headers["Access-Control-Allow-Origin"] == "https://qa.example.com"


def test_a_bad_cors_setting_says_what_is_expected(make_client: Any) -> None:
    from mockserver import ConfigError

    with pytest.raises(ConfigError, match="cors_origins: expected"):
        make_client(cors_origins=["localhost:5173"])
