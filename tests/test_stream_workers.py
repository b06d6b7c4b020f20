"""The event stream with `otp-mock serve --workers 2`, on SQLite and on Redis, through real HTTP:
every send and verify in it once and in order, and consumers that claim it sharing it out."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest
import requests
from redis_server import redis_server

from conftest import basic
from test_served import start, stop

pytestmark = pytest.mark.served
KEY = "stream"
AUTH = basic(KEY, "pw")
SENDS = 200


@pytest.fixture(params=["sqlite", "redis"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ExitStack() as stack:
        store: list[str] = []  # sqlite: the temporary database that --workers picks by itself
        if request.param == "redis":
            store = ["--store", stack.enter_context(redis_server(tmp_path_factory.mktemp("redis")))]
        process, url = start("--workers", "2", *store)
        assert requests.get(f"{url}/_mock/health", timeout=10).json()["store"] == request.param
        yield url
        code, out, err = stop(process)
        assert code == 0, (out, err)


def send_and_verify(url: str, index: int) -> str:
    """One client's send, read of the code, and verify; returns the message_id."""
    body = {"to": f"+4477009007{index:03d}", "template": {"id": "sms-default"}}
    with requests.post(f"{url}/v1/messages", json=body, headers=AUTH, timeout=30) as reply:
        assert reply.status_code == 200, reply.text
        message_id = str(reply.json()["message_id"])
    code = requests.get(f"{url}/_mock/messages/{message_id}", timeout=30).json()["code"]
    with requests.post(f"{url}/v1/verifications", json={"message_id": message_id, "verify_code": code},
                       headers=AUTH, timeout=30) as reply:
        assert reply.status_code == 200 and reply.json()["verified"] is True, reply.text
    return message_id


def read_stream(url: str, after: int, **params: Any) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for _ in range(1000):  # bounded: 100 a page
        page = requests.get(f"{url}/_mock/events", params={"after": after, "limit": 100, **params},
                            timeout=30).json()
        events += page["events"]
        if page["next"] == after or page["next"] >= page["head"]:
            return events
        after = page["next"]
    raise AssertionError("the stream did not end")


def test_every_send_and_verify_is_in_the_stream_once_and_in_order(pair: str) -> None:
    start_at = requests.get(f"{pair}/_mock/events", params={"limit": 1}, timeout=10).json()["head"]
    with ThreadPoolExecutor(4) as pool:  # four clients at once: both workers serve
        ids = list(pool.map(lambda i: send_and_verify(pair, i), range(SENDS)))
    events = read_stream(pair, start_at, dev_key=KEY)
    seqs = [e["id"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    requests_of: dict[str, list[tuple[int, str]]] = {i: [] for i in ids}
    steps_of: dict[str, list[str]] = {i: [] for i in ids}
    for event in events:
        data = event["data"]
        if event["type"] == "request":
            carried = json.loads(data["reply"] if data["operation"] == "send_otp" else data["body"])
            requests_of[str(carried["message_id"])].append((event["id"], data["operation"]))
        elif event["type"] == "message":
            steps_of[data["message_id"]] += [s["status"] for s in data["steps"]]
    for message_id in ids:  # each exactly once, the send before the verify
        assert [op for _, op in requests_of[message_id]] == ["send_otp", "verify_otp"], requests_of[message_id]
        assert steps_of[message_id] == ["plan", "target_valid", "sent", "delivered", "verified"]
    assert sum(len(r) for r in requests_of.values()) == 2 * SENDS


def test_two_consumers_claiming_share_the_stream_out(pair: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda i: send_and_verify(pair, i), range(50)))
    every = [e["id"] for e in read_stream(pair, 0)]
    assert len(every) >= 200
    shares: list[list[int]] = [[], []]
    barrier = threading.Barrier(2)

    def consume(share: list[int]) -> None:
        barrier.wait(timeout=20)
        with requests.Session() as session:  # each its own connection: either worker answers
            for _ in range(500):  # bounded
                claimed = session.post(f"{pair}/_mock/events/claim", json={"consumer": "sender", "limit": 7},
                                       timeout=30).json()["events"]
                if not claimed:
                    return
                share += [e["id"] for e in claimed]
                acked = session.post(f"{pair}/_mock/events/ack",
                                     json={"consumer": "sender", "ids": [e["id"] for e in claimed]}, timeout=30)
                assert acked.json() == {"acknowledged": len(claimed)}

    threads = [threading.Thread(target=consume, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert shares[0] and shares[1], "one consumer got everything: the claims did not interleave"
    assert not set(shares[0]) & set(shares[1])  # disjoint
    assert sorted(shares[0] + shares[1]) == every  # nothing lost, nothing twice


def test_a_code_that_expires_in_real_time_is_streamed_by_the_housekeeping_thread(tmp_path: Any) -> None:
    (tmp_path / "brief.yaml").write_text("name: brief\ndescription: codes live one second\nrules:\n"
                                         "  - operation: send_otp\n    reply: {pass: {ttl_seconds: 1}}\n")
    process, url = start("--workers", "2", "--scenarios-dir", str(tmp_path), "--scenario", "brief",
                         "--set", "housekeeping_seconds=0.2")
    try:
        body = {"to": "+447700900999", "template": {"id": "sms-default"}}
        message_id = requests.post(f"{url}/v1/messages", json=body, headers=AUTH, timeout=10).json()["message_id"]
        deadline, steps = 30.0, []
        for _ in range(int(deadline / 0.2)):  # bounded; nothing else is sent meanwhile
            events = requests.get(f"{url}/_mock/events", params={"type": "message"}, timeout=10).json()["events"]
            steps = [s["status"] for e in events if e["data"]["message_id"] == message_id for s in e["data"]["steps"]]
            if "verified_timeout" in steps:
                break
            threading.Event().wait(0.2)
        assert steps == ["plan", "target_valid", "sent", "delivered", "verified_timeout"], steps
    finally:
        code, out, err = stop(process)
    assert code == 0, (out, err)
