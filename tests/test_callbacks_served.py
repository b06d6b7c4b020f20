"""Callbacks from `otp-mock serve --workers 2` (SQLite) and from two replicas on one Redis, to a
real receiver on 127.0.0.1: 100 sends and verifies, and each of their events delivered exactly
once as a successful attempt (the receiver counts the rows of the posts it answered 200), none
lost, with a receiver that answers every other post with a 500 (so retries cross processes)."""

from __future__ import annotations

import collections
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest
import requests
from receiver import receiver
from redis_server import redis_server
from test_stream_workers import send_and_verify

from test_served import start, stop

pytestmark = pytest.mark.served
SENDS = 100
STEPS = ("plan", "target_valid", "sent", "delivered", "verified")
FAST = ("--set", "callback_linger_seconds=0.05", "--set", "callback_retry_seconds=0.1,0.1,0.1,0.2,0.5,1,1,1",
        "--set", "callback_targets=loopback", "--set", "callback_timeout_seconds=2")


@pytest.fixture(params=["sqlite-workers", "redis-replicas"])
def mocks(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[str]]:
    with ExitStack() as stack:
        processes = []
        if request.param == "redis-replicas":
            store = stack.enter_context(redis_server(tmp_path_factory.mktemp("redis")))
            processes = [start("--store", store, *FAST) for _ in range(2)]
        else:
            processes = [start("--workers", "2", *FAST)]
        yield [url for _, url in processes]
        for process, _ in processes:
            code, out, err = stop(process)
            assert code == 0, (out, err)
            assert "hook-secret-1" not in out + err  # the secret never reaches the log


def test_every_event_is_delivered_exactly_once(mocks: list[str]) -> None:
    with receiver() as (got, url):
        reply = requests.put(f"{mocks[0]}/_mock/callbacks", json={"url": url, "username": "u",
                                                                  "secret": "hook-secret-1"}, timeout=10)
        assert reply.status_code == 200 and reply.json()["probe"]["ok"] is True, reply.text
        got.mode = "flaky"
        with ThreadPoolExecutor(4) as pool:  # clients of both workers (or replicas) at once
            ids = list(pool.map(lambda i: send_and_verify(mocks[i % len(mocks)], i), range(SENDS)))
        got.wait(lambda: len(got.rows(200)) >= SENDS * len(STEPS), 60)
        time.sleep(0.5)  # a duplicate would come now
        counted = collections.Counter((r["message_id"], r["status"]["message_status"]) for r in got.rows(200))
        assert counted == collections.Counter({(i, step): 1 for i in ids for step in STEPS})
        log = requests.get(f"{mocks[-1]}/_mock/callbacks/deliveries", params={"limit": 1000}, timeout=10).json()
        assert all(d["status"] == "success" for d in log["deliveries"])
        assert sum(len(d["body"]["rows"]) for d in log["deliveries"]) == SENDS * len(STEPS)
        assert all([a["ok"] for a in d["attempts"]].count(True) == 1 for d in log["deliveries"])
        assert any(len(d["attempts"]) > 1 for d in log["deliveries"])  # retried: the 500s were seen
        assert len(got.rows(500)) > 0
