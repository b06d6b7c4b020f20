"""The Redis store's cache of rarely-changing values (templates, clocks, control values) is never
used after another replica changed them: a request that acted on it writes nothing and runs again."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from redis_server import redis_server
from test_stores import message

from mockserver import OtpMock
from mockserver.otp.model import Template
from mockserver.store.base import StaleRead
from mockserver.store.redisstore import RedisStore

TEMPLATE = Template("a", {"send_channel_strategy": "sms"}, 1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def url(server: str) -> str:
    redis.Redis.from_url(server).flushdb()
    return server


def auth(key: str) -> dict[str, str]:
    return {"authorization": "Basic " + base64.b64encode(f"{key}:pw".encode()).decode(),
            "content-type": "application/json"}


def send(mock: OtpMock, key: str, to: str = "+6591234567") -> tuple[int, Any]:
    body = json.dumps({"to": to, "template": {"id": "sms-default"}}).encode()
    reply = mock.handle("POST", "/v1/messages", auth(key), body)
    return reply.status, reply.body.get("code") if isinstance(reply.body, dict) else None


def test_a_write_on_values_another_replica_changed_raises_and_writes_nothing(url: str) -> None:
    mine, theirs = RedisStore(url), RedisStore(url)
    mine.seed_tenant("t", [TEMPLATE])
    with mine.scope():  # warm the cache
        assert mine.get_template("t", "a") is not None and mine.clock_offset("t") == 0
    theirs.advance_clock(30, "t")
    with mine.scope() as scope:
        assert mine.clock_offset("t") == 0  # from the cache, optimistically...
        with pytest.raises(StaleRead):  # ...and the write finds out
            mine.insert_messages([(message(message_id="m1"), None)], 100.0)
        assert not scope.current()
    assert mine.get_message("t", "m1") is None
    with mine.scope() as scope:  # run again: fresh values
        assert mine.clock_offset("t") == 30
        assert mine.insert_messages([(message(message_id="m1"), None)], 100.0) is None and scope.current()


def test_a_request_that_writes_nothing_checks_at_its_end(url: str) -> None:
    mine, theirs = RedisStore(url), RedisStore(url)
    with mine.scope() as scope:
        assert mine.get_values(["scenario:"]) == {} and scope.current()
    theirs.set_value("scenario:", "outage")
    with mine.scope() as scope:
        assert mine.get_values(["scenario:"]) == {}  # the cache's answer...
        assert not scope.current()  # ...is found out before the request answers
    with mine.scope() as scope:
        assert mine.get_values(["scenario:"]) == {"scenario:": "outage"} and scope.current()


def test_changes_made_through_one_mock_steer_the_next_request_of_another(url: str) -> None:
    one, two = OtpMock({"store": url}), OtpMock({"store": url})
    assert send(one, "k", "+6591230001") == (200, None)
    assert send(one, "k", "+6591230002") == (200, None)  # the cache is warm
    scenario = json.dumps({"name": "outage", "dev_key": "k"}).encode()
    assert two.handle("PUT", "/_mock/scenario", {"content-type": "application/json"}, scenario).status == 200
    assert send(one, "k", "+6591230003") == (500, 1000)  # no write: checked at the end, run again
    off = json.dumps({"name": None, "dev_key": "k"}).encode()
    assert two.handle("PUT", "/_mock/scenario", {"content-type": "application/json"}, off).status == 200
    assert send(one, "k", "+6591230004") == (200, None)
    review = json.dumps({"dev_key": "k", "status": 3, "audit_remark": "no"}).encode()
    assert two.handle("POST", "/_mock/templates/sms-default/review", {"content-type": "application/json"},
                      review).status == 200
    assert send(one, "k", "+6591230005") == (400, 3003)  # rejected: seen at once through the other mock
    two.control.advance_clock(301, "k")
    assert one.control.clock("k").offset_seconds == 301


def test_first_sends_of_a_new_key_across_replicas_count_a_scenario_once(url: str) -> None:
    """Four mocks on one Redis (four replicas), sixteen concurrent first sends of a new dev_key
    with retry-then-succeed: seeding races, the cache goes stale, and the scenario still fails
    exactly two of them."""
    mocks = [OtpMock({"store": url}) for _ in range(4)]
    for round_ in range(5):
        key = f"new-{round_}"
        body = json.dumps({"name": "retry-then-succeed", "dev_key": key}).encode()
        assert mocks[0].handle("PUT", "/_mock/scenario", {"content-type": "application/json"}, body).status == 200
        barrier, replies = threading.Barrier(16), [None] * 16

        def run(index: int, key: str = key) -> None:
            barrier.wait(timeout=20)
            replies[index] = send(mocks[index % 4], key, f"+65912340{index:02d}")  # type: ignore[call-overload]

        threads = [threading.Thread(target=run, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sorted(replies, key=str) == sorted([(500, 1000)] * 2 + [(200, None)] * 14, key=str), replies
