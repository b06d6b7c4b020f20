"""`otp-mock serve --workers 4`: processes that share one store, seen through real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from redis_server import redis_server

from conftest import basic
from test_served import start, stop

pytestmark = pytest.mark.served
AUTH = basic("race", "pw")


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def farm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ExitStack() as stack:
        store: list[str] = []  # sqlite: the temporary database that --workers picks by itself
        if request.param == "redis":
            store = ["--store", stack.enter_context(redis_server(tmp_path_factory.mktemp("redis")))]
        process, url = start("--workers", "4", "--threads", "4", *store)
        assert requests.get(f"{url}/_mock/health", timeout=10).json()["store"] == request.param
        yield url
        code, out, err = stop(process)
        assert code == 0 and out.count("OTP mock stopped.") == 1, (out, err)


def together(count: int, call: Any) -> list[Any]:
    """Run `call(i)` from `count` threads released at once; every thread is bounded in time."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def run(index: int) -> None:
        barrier.wait(timeout=20)
        results[index] = call(index)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def test_one_code_verifies_once_across_workers(farm: str) -> None:
    sent = requests.post(f"{farm}/v1/messages", json={"to": "+447700900700", "template": {"id": "test-template-1"}},
                         headers=AUTH, timeout=10).json()
    code = requests.get(f"{farm}/_mock/messages/{sent['message_id']}", timeout=10).json()["code"]
    body = {"message_id": sent["message_id"], "verify_code": code}

    def verify(_: int) -> tuple[int, Any]:
        with requests.post(f"{farm}/v1/verifications", json=body, headers=AUTH, timeout=30) as reply:
            return reply.status_code, reply.json()

    replies = together(50, verify)
    assert sum(1 for status, body in replies if status == 200 and body["verified"] is True) == 1
    assert sum(1 for status, body in replies if status == 400 and body["code"] == 3003) == 49


def test_no_message_is_lost_across_workers(farm: str) -> None:
    def send(index: int) -> str:
        body = {"to": f"+4477009008{index:02d}", "template": {"id": "sms-default"}}
        with requests.post(f"{farm}/v1/messages", json=body, headers=AUTH, timeout=30) as reply:
            return str(reply.json()["message_id"])

    ids = together(50, send)
    stored = requests.get(f"{farm}/_mock/messages", params={"dev_key": "race", "template_id": "sms-default",
                                                            "limit": 1000}, timeout=10).json()["messages"]
    assert len(set(ids)) == 50 and set(ids) <= {m["message_id"] for m in stored}


def test_a_scenario_chosen_through_one_worker_counts_across_all(farm: str) -> None:
    """retry-then-succeed fails the first two sends of a dev_key: two in all, not two per worker."""
    switched = requests.put(f"{farm}/_mock/scenario", json={"name": "retry-then-succeed", "dev_key": "seq"},
                            timeout=10)
    assert switched.json()["keys"] == {"seq": "retry-then-succeed"}

    def send(index: int) -> tuple[int, Any]:
        body = {"to": f"+4477009006{index:02d}", "template": {"id": "sms-default"}}
        with requests.post(f"{farm}/v1/messages", json=body, headers=basic("seq", "pw"), timeout=30) as reply:
            return reply.status_code, reply.json().get("code")

    replies = together(24, send)
    assert sorted(replies, key=str) == sorted([(500, 1000)] * 2 + [(200, None)] * 22, key=str), replies
    requests.put(f"{farm}/_mock/scenario", json={"name": None, "dev_key": "seq"}, timeout=10)
    assert send(99) == (200, None)


def test_the_journal_shows_the_requests_of_every_worker(farm: str) -> None:
    def send(index: int) -> int:
        body = {"to": f"+4477009005{index:02d}", "template": {"id": "sms-default"}}
        with requests.post(f"{farm}/v1/messages", json=body, headers=basic("journal", "pw"), timeout=30) as reply:
            return reply.status_code

    assert together(30, send) == [200] * 30
    entries = requests.get(f"{farm}/_mock/requests", params={"dev_key": "journal", "limit": 100},
                           timeout=10).json()["requests"]
    assert len(entries) == 30 and len({e["id"] for e in entries}) == 30
    assert {e["operation"] for e in entries} == {"send_otp"}


def test_workers_bring_faults_restart_a_dead_worker_and_refuse_a_busy_port(tmp_path: Path) -> None:
    (tmp_path / "reset.yaml").write_text("name: reset\ndescription: every send is reset\nrules:\n"
                                         "  - operation: send_otp\n    reply: {fault: connection_reset}\n")
    process, url = start("--workers", "2", "--scenarios-dir", str(tmp_path))
    try:
        body = {"to": "+447700900400", "template": {"id": "sms-default"}}
        with pytest.raises(requests.ConnectionError):  # the fault happens in whichever worker answers
            requests.post(f"{url}/v1/messages", json=body, headers={**AUTH, "X-Mock-Scenario": "reset"}, timeout=10)
        workers = _children(process.pid)
        assert len(workers) == 2
        os.kill(workers[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and (len(_children(process.pid)) < 2 or workers[0] in _children(process.pid)):
            time.sleep(0.05)
        assert len(_children(process.pid)) == 2 and workers[0] not in _children(process.pid)
        for _ in range(10):  # every connection is answered: none lands on the dead worker's socket
            assert requests.get(f"{url}/_mock/health", timeout=10).status_code == 200
        busy = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--workers", "2", "--port",
                               url.rsplit(":", 1)[1]], capture_output=True, text=True, timeout=30)
        assert busy.returncode != 0 and "cannot listen on" in busy.stderr, busy.stderr
    finally:
        code, out, err = stop(process)
    assert code == 0 and out.count("OTP mock stopped.") == 1, (out, err)
    assert "starting another" in err


def test_a_worker_takes_requests_only_while_free(tmp_path: Path) -> None:
    """Workers pull from one socket: each reply closes its connection, an idle connection holds
    no worker, and a hanging request holds only the worker that serves it."""
    (tmp_path / "hang.yaml").write_text("name: hang\ndescription: every send hangs\nrules:\n"
                                        "  - operation: send_otp\n    reply: {fault: hang}\n")
    process, url = start("--workers", "2", "--scenarios-dir", str(tmp_path), "--set", "hang_seconds=4")
    host, port = url.rsplit("/", 1)[1].split(":")
    idle = [socket.create_connection((host, int(port)), timeout=5) for _ in range(6)]
    for sock in idle[:3]:  # stuck halfway through a request; the others send nothing
        sock.sendall(b"POST /v1/messages HTTP/1.1\r\nHost: mock\r\nContent-Length: 10\r\n\r\n{")
    try:
        with requests.Session() as session:  # a kept-alive client reconnects by itself
            for _ in range(3):
                reply = session.get(f"{url}/_mock/health", timeout=2)  # far below waitress's 120 s idle limit
                assert reply.status_code == 200 and reply.headers["Connection"] == "close"
        hung: list[BaseException] = []
        body = {"to": "+447700900401", "template": {"id": "sms-default"}}

        def hang() -> None:
            try:
                requests.post(f"{url}/v1/messages", json=body, headers={**AUTH, "X-Mock-Scenario": "hang"}, timeout=10)
            except requests.RequestException as exc:  # the hang ends in an empty reply
                hung.append(exc)

        thread = threading.Thread(target=hang)
        thread.start()
        time.sleep(0.5)
        started = time.monotonic()
        for _ in range(6):  # all served by the other worker, none queued behind the hang
            assert requests.get(f"{url}/_mock/health", timeout=2).status_code == 200
        assert time.monotonic() - started < 2 and thread.is_alive()
        thread.join(timeout=15)
        assert hung and not thread.is_alive()
    finally:
        for sock in idle:
            sock.close()
        code, out, err = stop(process)
    assert code == 0, (out, err)


def _children(pid: int) -> list[int]:
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
