"""The hostile review of the signed callbacks: each finding, fixed, with its test."""

from __future__ import annotations

import threading
import time
from collections import Counter

import orjson
from receiver import receiver

from mockserver.callbacks.config import CallbackConfig
from mockserver.callbacks.delivery import SUCCESS, Delivery
from mockserver.callbacks.service import PREFIX, CallbackPolicy, Callbacks
from mockserver.store.memory import MemoryStore


def _deliveries(count: int, tenant: str = "k1") -> list[Delivery]:
    now = time.time()
    return [Delivery(f"d{i}", tenant, "", "message_status",
                     orjson.dumps({"total": 1, "rows": [{"message_id": f"m{i}"}]}).decode(), ("sent",),
                     (f"m{i}",), now, next_at=now) for i in range(count)]


def test_two_workers_and_a_slow_receiver_attempt_each_delivery_once() -> None:
    """Finding 1: a pass's lease covers every delivery it claimed, one after another, and is
    renewed before each POST, so a second worker never claims one the first is still working on."""
    store = MemoryStore()
    policy = CallbackPolicy("loopback", timeout=1.0, schedule=(60.0,), lease_margin=0.2)
    workers = [Callbacks(store, policy, {}, lambda kind, body: []) for _ in range(2)]
    with receiver() as (got, url):
        got.mode, got.slow_seconds = "slow", 0.3  # each answer takes 0.3 s: six take longer than one lease
        store.set_value(PREFIX, CallbackConfig(url).to_json())
        store.add_deliveries(_deliveries(6))

        def work(callbacks: Callbacks) -> None:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # bounded
                if all(d.status == SUCCESS for d in map(store.get_delivery, [f"d{i}" for i in range(6)]) if d):
                    return
                callbacks.attempt_due()
                time.sleep(0.02)

        threads = [threading.Thread(target=work, args=(w,)) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(15)
        posts = Counter(row["message_id"] for row in got.rows())
        assert posts == {f"m{i}": 1 for i in range(6)}, posts
        assert [row["message_id"] for row in got.rows()] == [f"m{i}" for i in range(6)]  # in order
    for w in workers:
        w.close()
