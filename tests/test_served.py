"""The served mock: `otp-mock serve` in its own process, over real HTTP on 127.0.0.1."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import PHONE, ResponseValidator

pytestmark = pytest.mark.served
AUTH = ("team-a", "s3cret")


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `otp-mock serve` on a free port and return it with its base URL."""
    command = [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        found = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            break
    process.kill()
    raise AssertionError(f"otp-mock serve did not start: {process.communicate()[1][-2000:]}")


def stop(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=10)
    return process.returncode, out, err


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    process, url = start("--seed", "7")
    yield url
    code, out, err = stop(process)
    assert code == 0 and "OTP mock stopped." in out, err
    assert "s3cret" not in out + err  # the secret never reaches the log


@pytest.fixture
def http(served: str, validator: ResponseValidator) -> Iterator[requests.Session]:
    session = requests.Session()
    session.auth = AUTH
    yield session
    session.close()


def check(validator: ResponseValidator, response: requests.Response) -> requests.Response:
    """Validate a real HTTP response against the contracts, like the in-process client does."""
    path = requests.utils.urlparse(response.url).path
    validator.validate(response.request.method or "GET", path, response)
    return response


SEND = {"to": PHONE, "template": {"id": "test-template-1"}}


def test_readme_tour_over_real_http(served: str, http: requests.Session, validator: ResponseValidator) -> None:
    sent = check(validator, http.post(f"{served}/v1/messages", json=SEND, timeout=5))
    message_id = sent.json()["message_id"]
    latest_url = f"{served}/_mock/messages/latest"
    latest = check(validator, requests.get(latest_url, params={"to": PHONE}, timeout=5)).json()
    assert latest["message_id"] == message_id
    check(validator, http.post(f"{served}/v1/messages", json=SEND, timeout=5))
    advance = {"advance_seconds": 301, "dev_key": "team-a"}
    check(validator, requests.post(f"{served}/_mock/clock", json=advance, timeout=5))
    expired = check(validator, http.post(f"{served}/v1/verifications",
                                         json={"message_id": message_id, "verify_code": latest["code"]}, timeout=5))
    assert (expired.status_code, expired.json()["code"]) == (400, 3003)
    again = check(validator, http.post(f"{served}/v1/messages", json=SEND, timeout=5))
    code = requests.get(f"{served}/_mock/messages/latest", params={"to": PHONE}, timeout=5).json()["code"]
    ok = check(validator, http.post(f"{served}/v1/verifications",
                                    json={"message_id": again.json()["message_id"], "verify_code": code}, timeout=5))
    assert ok.json()["verified"] is True


def test_served_errors_are_json_envelopes(served: str, validator: ResponseValidator) -> None:
    reply = check(validator, requests.post(f"{served}/v1/messages", data=b"{", timeout=5,
                                           headers={"Content-Type": "application/json"}))
    assert (reply.status_code, reply.json()["code"]) == (401, 2001)
    big = check(validator, requests.post(f"{served}/v1/messages", data=b"x" * 2_000_000, auth=AUTH, timeout=10,
                                         headers={"Content-Type": "application/json"}))
    assert (big.status_code, big.json()["code"]) == (400, 3001)
    assert big.headers["Content-Type"].startswith("application/json")


def test_broken_contract_stops_start_up_with_its_location(tmp_path: Path) -> None:
    spec = tmp_path / "broken.yaml"
    spec.write_text("openapi: 3.1.0\ninfo: {title: x\npaths: {}\n", encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--spec", str(spec)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert re.search(r"broken\.yaml:\d+:\d+: ", result.stderr), result.stderr


def test_check_command_reports_the_configuration(tmp_path: Path) -> None:
    ok = subprocess.run([sys.executable, "-m", "mockserver", "check"], capture_output=True, text=True, timeout=30)
    assert ok.returncode == 0 and "8 operations, 20 error codes" in ok.stdout
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {dev_key: a, dev_secret: b, permissions: [sned]}\n", encoding="utf-8")
    bad = subprocess.run([sys.executable, "-m", "mockserver", "check", "--keys-file", str(keys)],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and "unknown permission(s) sned" in bad.stderr


def test_unknown_setting_suggests_the_nearest_name() -> None:
    result = subprocess.run([sys.executable, "-m", "mockserver", "check", "--set", "max_verify_attempt=3"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 2 and "did you mean 'max_verify_attempts'?" in result.stderr


@pytest.mark.parametrize("args", [[], ["--workers", "2"]], ids=["one-process", "two-workers"])
def test_every_request_has_a_line_in_the_serve_log(args: list[str]) -> None:
    """Preflights, 404s and control-plane calls too, as the README promises (log_requests)."""
    process, url = start(*args)
    try:
        preflight = requests.options(f"{url}/v1/messages", timeout=5, headers={
            "Origin": "http://localhost:3000", "Access-Control-Request-Method": "POST"})
        assert preflight.status_code == 200 and "POST" in preflight.headers["Allow"]
        assert requests.get(f"{url}/v1/nowhere", timeout=5).status_code == 404
        assert requests.delete(f"{url}/v1/messages", timeout=5).status_code == 405
        assert requests.get(f"{url}/_mock/health", timeout=5).status_code == 200
        assert requests.post(f"{url}/_mock/clock", json={"advance_seconds": 1}, timeout=5).status_code == 200
        noted = requests.post(f"{url}/v1/messages", json=SEND, auth=AUTH, timeout=5, headers={"X-Mock-Error": "2002"})
        assert noted.status_code == 200 and noted.headers["X-Mock-Note"].startswith("X-Mock-Error: 2002 ignored")
        unencoded = requests.get(f"{url}/_mock/messages/latest?to=+6591234567", timeout=5)  # as a browser writes it
        assert unencoded.status_code == 200 and unencoded.json()["message_id"] == noted.json()["message_id"]
    finally:
        code, _, err = stop(process)
    assert code == 0, err
    lines = [line.split(" INFO mockserver: ", 1)[1] for line in err.splitlines() if " INFO mockserver: " in line]
    for pattern in (r"OPTIONS /v1/messages -> 200 [\d.]+ms$", r"GET /v1/nowhere -> 404 code=404 [\d.]+ms$",
                    r"DELETE /v1/messages -> 405 code=405 ", r"GET /_mock/health -> 200 [\d.]+ms$",
                    r"POST /_mock/clock -> 200 [\d.]+ms$",  # no key: no key=None
                    r"POST /v1/messages -> 200 key=team-a [\d.]+ms note: X-Mock-Error: 2002 ignored: no scenario",
                    r"GET /_mock/messages/latest\?to=\+6591234567 -> 200 "):
        assert any(re.match(pattern, line) for line in lines), f"{pattern!r} not in the log:\n" + "\n".join(lines)
