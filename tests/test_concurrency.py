"""Many clients at once: nothing lost, every code verified exactly once, one send per window.

Each thread has its own Flask test client (or its own `requests` session for the served case);
a Barrier releases them together so the requests overlap as much as the GIL lets them. Every
response is validated against the contracts as it arrives (the validator only reads), and only
its status and JSON body are kept.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask

from conftest import ResponseValidator, basic
from mockserver.testing import serve_in_thread

THREADS = 32
TIMEOUT = 20.0  # seconds; bounds every wait so that a deadlock fails instead of hanging
AUTH = basic()
TEMPLATE = "test-template-1"
ALREADY_VERIFIED = {"code": 3003, "message": "verify code already verified"}
T = TypeVar("T")


@pytest.fixture(autouse=True)
def switch_threads_often() -> Iterator[None]:
    """Let the interpreter switch threads every microsecond instead of every 5 ms, so that an
    unlocked read-modify-write in the mock is interrupted midway often enough to show."""
    default = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(default)


@dataclass(frozen=True)
class Call:
    """What a request got back, once validated against the contract."""

    status: int
    body: Any

    @property
    def code(self) -> int | None:
        """The error code, or None for a 200."""
        return None if self.status == 200 else int(self.body["code"])


def together(count: int, work: Callable[[int, Callable[[], None]], T]) -> list[T]:
    """Run `work(index, sync)` in `count` threads started at the same instant; their results.

    `sync()` is a barrier the threads can meet at again midway. The first exception of any
    thread breaks the barrier for the others and is raised here; nothing waits past TIMEOUT.
    """
    barrier = threading.Barrier(count, timeout=TIMEOUT)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def sync() -> None:
        barrier.wait()

    def run(index: int) -> None:
        try:
            sync()
            results[index] = work(index, sync)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads), "threads still running after the timeout"
    first = [e for e in errors if not isinstance(e, threading.BrokenBarrierError)] or errors
    if first:
        raise first[0]
    return results


class Api:
    """A minimal client over its own Flask test client (one per thread)."""

    def __init__(self, app: Flask, validator: ResponseValidator) -> None:
        self.raw = app.test_client()
        self.validator = validator

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Call:
        headers = AUTH if path.startswith("/v1/") else {}
        response = self.raw.open(path, method=method, json=body, headers=headers)
        self.validator.validate(method, path, response)
        return Call(response.status_code, response.get_json())

    def send(self, to: str) -> Call:
        return self.call("POST", "/v1/messages", {"to": to, "template": {"id": TEMPLATE}})

    def verify(self, message_id: str, code: str) -> Call:
        return self.call("POST", "/v1/verifications", {"message_id": message_id, "verify_code": code})

    def code_of(self, message_id: str) -> str:
        return str(self.call("GET", f"/_mock/messages/{message_id}").body["code"])

    def messages(self, **query: str) -> list[dict[str, Any]]:
        """The stored messages, newest first, from the control plane."""
        listed = self.call("GET", "/_mock/messages?" + urlencode({"limit": "1000", **query}))
        assert listed.status == 200, listed.body
        return list(listed.body["messages"])


def phone(group: int, index: int) -> str:
    return f"+659{group:03d}{index:04d}"


def wrong(code: str) -> str:
    """A code of the same shape that is certainly not `code`."""
    return "".join(str((int(c) + 1) % 10) for c in code)


# (a) -----------------------------------------------------------------------------------------
def test_parallel_send_and_verify_loses_nothing(app: Flask, validator: ResponseValidator) -> None:
    """32 recipients at once: send, wrong codes (own and a neighbour's), right code, right again."""
    ids: list[str] = [""] * THREADS

    def work(index: int, sync: Callable[[], None]) -> dict[str, Call]:
        api = Api(app, validator)
        calls = {"send": api.send(phone(0, index))}
        ids[index] = calls["send"].body["message_id"]
        code = api.code_of(ids[index])
        sync()  # every message exists before anyone verifies
        calls["own_wrong"] = api.verify(ids[index], wrong(code))
        calls["neighbour_wrong"] = api.verify(ids[(index + 1) % THREADS], "000000x")
        calls["right"] = api.verify(ids[index], code)
        calls["again"] = api.verify(ids[index], code)
        return calls

    results = together(THREADS, work)

    for calls in results:
        assert calls["send"].status == 200
        assert (calls["own_wrong"].status, calls["own_wrong"].body["verified"]) == (200, False)
        assert (calls["right"].status, calls["right"].body["verified"]) == (200, True)
        assert (calls["again"].status, calls["again"].body) == (400, ALREADY_VERIFIED)
        neighbour = calls["neighbour_wrong"]  # came before the neighbour's right code, or after
        assert (neighbour.status, neighbour.body) in [
            (200, {"message_id": neighbour.body.get("message_id"), "verify_code": "000000x", "verified": False}),
            (400, ALREADY_VERIFIED)]

    stored = {m["message_id"]: m for m in Api(app, validator).messages()}
    assert len(set(ids)) == THREADS and set(stored) == set(ids)
    for index, message_id in enumerate(ids):
        message = stored[message_id]
        assert message["to"] == phone(0, index)
        assert (message["status"], message["verified"]) == ("verified", True)
        # Its own wrong attempt, plus the neighbour's if that came before the right code.
        counted = results[index - 1]["neighbour_wrong"].status == 200
        assert message["attempts"] == 1 + counted, message


# (b) -----------------------------------------------------------------------------------------
def assert_verified_once(calls: list[Call]) -> None:
    winners = [c for c in calls if c.status == 200]
    assert len(winners) == 1, calls
    assert winners[0].body["verified"] is True
    losers = [(c.status, c.body) for c in calls if c.status != 200]
    assert losers == [(400, ALREADY_VERIFIED)] * (THREADS - 1)


@pytest.mark.parametrize("round_", range(20))
def test_same_code_verified_once(app: Flask, validator: ResponseValidator, round_: int) -> None:
    api = Api(app, validator)
    message_id = api.send(phone(1, round_)).body["message_id"]
    code = api.code_of(message_id)
    clients = [Api(app, validator) for _ in range(THREADS)]

    calls = together(THREADS, lambda index, sync: clients[index].verify(message_id, code))
    assert_verified_once(calls)
    (message,) = api.messages(to=phone(1, round_))
    assert (message["message_id"], message["status"], message["attempts"]) == (message_id, "verified", 0)


# (c) -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("round_", range(5))
def test_same_recipient_sent_once(app: Flask, validator: ResponseValidator, round_: int) -> None:
    to = phone(2, round_)
    clients = [Api(app, validator) for _ in range(THREADS)]

    calls = together(THREADS, lambda index, sync: clients[index].send(to))
    assert sorted((c.status, c.code) for c in calls) == [(200, None)] + [(400, 3004)] * (THREADS - 1)
    (message,) = Api(app, validator).messages(to=to)
    (winner,) = [c for c in calls if c.status == 200]
    assert message["message_id"] == winner.body["message_id"]


# (b) over real HTTP --------------------------------------------------------------------------
@pytest.fixture
def served(app: Flask) -> Iterator[str]:
    """A mock with the app's settings and clock served by waitress on 127.0.0.1 (16 request
    threads), in a thread of this process, stopped after the test. (It closed the server from
    this thread while waitress's loop polled its sockets, which sometimes killed the loop with
    EBADF and left its connections for the garbage collector; serve_in_thread stops in turn.)"""
    with serve_in_thread(app.mock.settings.replace(threads=16), clock=app.mock.service.clock) as mock:
        yield mock.base_url


class HttpApi:
    """One `requests` session; responses are validated, reduced to a Call and closed.

    A live `requests.Response` keeps its socket open (until the garbage collector warns about
    it), so no Response outlives the call that made it.
    """

    def __init__(self, base: str, validator: ResponseValidator) -> None:
        self.base = base
        self.validator = validator
        self.session = requests.Session()
        self.session.auth = ("team-a", "s3cret")

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Call:
        with self.session.request(method, self.base + path, json=body, timeout=TIMEOUT) as response:
            self.validator.validate(method, path, response)
            return Call(response.status_code, response.json())

    def close(self) -> None:
        self.session.close()


@pytest.mark.served
def test_same_code_verified_once_over_http(validator: ResponseValidator, served: str) -> None:
    for round_ in range(3):
        setup = HttpApi(served, validator)
        try:
            sent = setup.call("POST", "/v1/messages", {"to": phone(3, round_), "template": {"id": TEMPLATE}})
            message_id = sent.body["message_id"]
            code = setup.call("GET", f"/_mock/messages/{message_id}").body["code"]
        finally:
            setup.close()

        def verify(index: int, sync: Callable[[], None]) -> Call:
            api = HttpApi(served, validator)
            try:
                return api.call("POST", "/v1/verifications", {"message_id": message_id, "verify_code": code})
            finally:
                api.close()

        assert_verified_once(together(THREADS, verify))
