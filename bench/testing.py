"""Figures of the testing face (mockserver.testing): what a test pays for the mock.

    python bench/testing.py [--rounds 200] [--tests 500]

* fixture: a fresh `otp_mock()` started and stopped (what the `otp_mock` fixture does for each
  test: a new OtpMock, `responses` and httpx intercepted), `--rounds` times after 20 warm-up
  rounds: median and p95, in milliseconds.
* send + verify: in one started mock, `POST /v1/messages`, `latest_code`, `POST
  /v1/verifications`, straight through `OtpMock.handle` (the in-process mock's own cost),
  through a `requests.Session` (responses) and through an httpx client with
  `httpx_transport()`; and, for scale, the same two calls through `requests` answered by a
  plain `responses` stub (what requests and responses cost by themselves: on this machine
  most of it is requests reading the proxy variables of the environment on every call).
  Median and p95 of `--rounds` rounds (each to a new number), in milliseconds.
* suite: `--tests` generated tests that each send and verify a code, run by pytest in a
  process of its own, once with the `otp_mock` fixture and once with a plain `responses` stub
  of the two calls (the usual hand-written alternative); the wall time of each run (best of
  two) and the difference.

Gated (exit status 1): fixture median < 30 ms; send + verify through the mock, median < 1 ms;
the suite with the fixture at most 5 s slower than with the stub. No socket is opened.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

FIXTURE_LIMIT_MS = 30.0
ROUND_LIMIT_MS = 1.0
SUITE_LIMIT_S = 5.0
BASE = "https://otp.api.engagelab.cc"
AUTH = ("bench", "s3cret")


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def timed(action: Callable[[int], object], rounds: int, warm: int = 20) -> tuple[float, float]:
    for n in range(warm):
        action(-n - 1)
    times = []
    for n in range(rounds):
        started = time.perf_counter()
        action(n)
        times.append((time.perf_counter() - started) * 1000)
    return percentiles(times)


def fixture_cost(rounds: int) -> tuple[float, float]:
    from mockserver.testing import otp_mock

    def one(_: int) -> None:
        with otp_mock():
            pass

    return timed(one, rounds)


def phone(n: int) -> str:
    return f"+659{n % 10_000_000:07d}"


def round_costs(rounds: int) -> dict[str, tuple[float, float]]:
    import httpx
    import requests

    from mockserver.testing import otp_mock

    out = {}
    with otp_mock() as otp, requests.Session() as session, httpx.Client(transport=otp.httpx_transport()) as client:
        session.auth = AUTH

        def by_requests(n: int) -> None:
            to = phone(n + 1_000_000)
            sent = session.post(f"{BASE}/v1/messages", json={"to": to, "template": {"id": "sms-default"}}).json()
            body = {"message_id": sent["message_id"], "verify_code": otp.latest_code(to)}
            assert session.post(f"{BASE}/v1/verifications", json=body).json()["verified"]

        def by_httpx(n: int) -> None:
            to = phone(n + 2_000_000)
            sent = client.post(f"{BASE}/v1/messages", json={"to": to, "template": {"id": "sms-default"}},
                               auth=AUTH).json()
            body = {"message_id": sent["message_id"], "verify_code": otp.latest_code(to)}
            assert client.post(f"{BASE}/v1/verifications", json=body, auth=AUTH).json()["verified"]

        headers = {"Authorization": "Basic " + base64.b64encode(":".join(AUTH).encode()).decode(),
                   "Content-Type": "application/json"}

        def by_handle(n: int) -> None:
            to = phone(n + 3_000_000)
            body = json.dumps({"to": to, "template": {"id": "sms-default"}}).encode()
            sent = otp.mock.handle("POST", "/v1/messages", headers, body).json()
            check = json.dumps({"message_id": sent["message_id"], "verify_code": otp.latest_code(to)}).encode()
            assert otp.mock.handle("POST", "/v1/verifications", headers, check).json()["verified"]

        out["OtpMock.handle"] = timed(by_handle, rounds)
        out["requests (responses)"] = timed(by_requests, rounds)
        out["httpx (transport)"] = timed(by_httpx, rounds)
    out["requests, plain stub"] = stub_round(rounds)
    return out


def stub_round(rounds: int) -> tuple[float, float]:
    """The same two calls through requests, answered by a plain responses stub."""
    import requests
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as stub, requests.Session() as session:
        stub.post(f"{BASE}/v1/messages", json={"message_id": "1725407449772531712", "send_channel": "sms"})
        stub.post(f"{BASE}/v1/verifications", json={"message_id": "1725407449772531712", "verify_code": "1234",
                                                    "verified": True})
        session.auth = AUTH

        def one(n: int) -> None:
            sent = session.post(f"{BASE}/v1/messages", json={"to": phone(n), "template": {"id": "sms-default"}}).json()
            body = {"message_id": sent["message_id"], "verify_code": "1234"}
            assert session.post(f"{BASE}/v1/verifications", json=body).json()["verified"]

        return timed(one, rounds)


WITH_FIXTURE = '''
import pytest, requests

@pytest.mark.parametrize("n", range({tests}))
def test_login(otp_mock, n):
    to = "+6591234567"
    session = requests.Session()
    session.auth = ("bench", "s3cret")
    sent = session.post("{base}/v1/messages", json={{"to": to, "template": {{"id": "sms-default"}}}}).json()
    body = {{"message_id": sent["message_id"], "verify_code": otp_mock.latest_code(to)}}
    assert session.post("{base}/v1/verifications", json=body).json()["verified"]
'''
WITH_STUB = '''
import pytest, requests, responses

@pytest.mark.parametrize("n", range({tests}))
@responses.activate
def test_login(n):
    responses.post("{base}/v1/messages", json={{"message_id": "1725407449772531712", "send_channel": "sms"}})
    responses.post("{base}/v1/verifications",
                   json={{"message_id": "1725407449772531712", "verify_code": "123456", "verified": True}})
    session = requests.Session()
    session.auth = ("bench", "s3cret")
    sent = session.post("{base}/v1/messages", json={{"to": "+6591234567", "template": {{"id": "sms-default"}}}}).json()
    body = {{"message_id": sent["message_id"], "verify_code": "123456"}}
    assert session.post("{base}/v1/verifications", json=body).json()["verified"]
'''


def suite_times(tests: int) -> dict[str, float]:
    out = {}
    environ = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # the same plugins in both runs
    with tempfile.TemporaryDirectory(prefix="otp-bench-testing-") as folder:
        for name, source in (("otp_mock fixture", WITH_FIXTURE), ("responses stub", WITH_STUB)):
            path = Path(folder) / name.replace(" ", "_")
            path.mkdir()
            (path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
            (path / "test_suite.py").write_text(textwrap.dedent(source.format(tests=tests, base=BASE)),
                                                encoding="utf-8")
            best = float("inf")
            for _ in range(2):
                started = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p",
                                       "mockserver.testing.plugin", str(path)], capture_output=True, text=True,
                                      timeout=600, cwd=path, env=environ)
                best = min(best, time.perf_counter() - started)
                if done.returncode != 0 or f"{tests} passed" not in done.stdout:
                    raise SystemExit(f"the {name} suite failed:\n{done.stdout[-3000:]}{done.stderr[-2000:]}")
            out[name] = best
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--tests", type=int, default=500)
    args = parser.parse_args()
    rounds, tests = min(max(args.rounds, 1), 10_000), min(max(args.tests, 1), 10_000)
    failed = False
    median, p95 = fixture_cost(rounds)
    print(f"fresh otp_mock() start + stop   median {median:6.2f} ms  p95 {p95:6.2f} ms")
    failed |= median >= FIXTURE_LIMIT_MS
    for name, (median, p95) in round_costs(rounds).items():
        print(f"send + verify, {name:<21} median {median:6.3f} ms  p95 {p95:6.3f} ms")
        failed |= name == "OtpMock.handle" and median >= ROUND_LIMIT_MS
    times = suite_times(tests)
    for name, seconds in times.items():
        print(f"{tests} tests, {name:<17} {seconds:6.2f} s (best of 2, pytest in its own process)")
    extra = times["otp_mock fixture"] - times["responses stub"]
    print(f"the fixture costs {extra:+.2f} s over the stub for {tests} tests ({extra / tests * 1000:+.2f} ms a test)")
    failed |= extra > SUITE_LIMIT_S
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; limits: fixture < {FIXTURE_LIMIT_MS:.0f} "
          f"ms, send + verify < {ROUND_LIMIT_MS:.0f} ms, suite <= {SUITE_LIMIT_S:.0f} s over the stub")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
