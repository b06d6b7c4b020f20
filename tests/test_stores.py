"""One test suite for every store back-end: the same behaviour, the same atomicity."""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from redis_server import redis_server

from conftest import PHONE, Client, basic
from mockserver import create_app
from mockserver.callbacks import delivery as deliveries
from mockserver.callbacks.delivery import SCHEDULED, Attempt, Delivery
from mockserver.events import StreamEvent
from mockserver.otp.ids import MessageIds
from mockserver.otp.model import OTP, Event, Message, Template
from mockserver.otp.rules import Outcome, settle, verify_step
from mockserver.store import MemoryStore, MessageQuery, SqliteStore, Store
from mockserver.store.base import DeliveryQuery
from mockserver.store.redisstore import RedisStore
from test_served import start, stop

BACKENDS = ["memory", "sqlite", "redis"]


def message(**changes: Any) -> Message:
    base = Message(message_id="1", tenant="t", kind=OTP, operation="send_otp", to="+6591234567",
                   template_id="tpl", language="default", channel="sms", text="x", created_at=100.0,
                   code="123456", expires_at=400.0, max_attempts=3, lifecycle=(Event("delivered", 100.0),))
    return replace(base, **changes)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture
def real() -> list[float]:
    """The stores' real clock, moved by hand."""
    return [1000.0]


LIMITS = {"retention_seconds": 60, "max_messages": 50, "max_events": 5}


def new_store(backend: str, path: Path, request: pytest.FixtureRequest, **options: Any) -> Store:
    """A fresh store of one back-end: a SQLite file at `path`, or the module's Redis, emptied."""
    if backend == "memory":
        return MemoryStore(**options)
    if backend == "sqlite":
        return SqliteStore(path, **options)
    shared = RedisStore(request.getfixturevalue("redis_url"), **options)
    shared.db.flushdb()
    return shared


def open_store(request: pytest.FixtureRequest, tmp_path: Path, real: list[float],
               limits: dict[str, Any]) -> Iterator[Store]:
    made = new_store(request.param, tmp_path / "state.db", request, real_time=lambda: real[0], **limits)
    yield made
    if isinstance(made, RedisStore):
        made.db.flushdb()
    made.close()


@pytest.fixture(params=BACKENDS)
def store(request: pytest.FixtureRequest, tmp_path: Path, real: list[float]) -> Iterator[Store]:
    yield from open_store(request, tmp_path, real, LIMITS)


@pytest.fixture(params=BACKENDS)
def roomy(request: pytest.FixtureRequest, tmp_path: Path, real: list[float]) -> Iterator[Store]:
    """A store that keeps thousands of messages."""
    yield from open_store(request, tmp_path, real, {**LIMITS, "max_messages": 5000})


def sibling(store: Store, request: pytest.FixtureRequest, real: list[float]) -> Store:
    """Another process's view of the same store (the same object for memory: no other shares it)."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path, real_time=lambda: real[0], **LIMITS)
    if isinstance(store, RedisStore):
        return RedisStore(request.getfixturevalue("redis_url"), real_time=lambda: real[0], **LIMITS)
    return store


def test_templates(store: Store) -> None:
    store.seed_tenant("t", [Template("a", {"send_channel_strategy": "sms"}, 1)])
    store.seed_tenant("t", [Template("b", {"send_channel_strategy": "sms"}, 1)])  # once only
    assert [t.template_id for t in store.list_templates("t")] == ["a"]
    assert store.insert_template("t", Template("c", {"send_channel_strategy": "sms"}, 2))
    assert not store.insert_template("t", Template("c", {}, 3))
    assert store.replace_template("t", Template("c", {"send_channel_strategy": "sms"}, 2, status=3))
    assert store.get_template("t", "c") is not None and store.get_template("t", "c").status == 3  # type: ignore[union-attr]
    assert store.delete_template("t", "a") and not store.delete_template("t", "a")
    assert store.get_template("other", "c") is None


def test_resend_window_and_batches(store: Store) -> None:
    assert store.insert_messages([(message(message_id="1"), "k")], 100.0) is None
    blocked = store.insert_messages([(message(message_id="2", to="b"), "k2"), (message(message_id="3"), "k")], 100.0)
    assert blocked is not None and blocked.message_id == "1"
    assert store.get_message("t", "2") is None  # all or nothing
    assert store.insert_messages([(message(message_id="4"), "k")], 400.0) is None  # expired: allowed
    failed = (Event("plan", 400.0), Event("target_invalid", 400.0, "", 0.0, 5011))
    assert store.insert_messages([(message(message_id="5", lifecycle=failed, expires_at=900.0), "f")], 400.0) is None
    assert store.insert_messages([(message(message_id="6"), "f")], 401.0) is None  # a failed delivery holds none
    assert store.get_message("t", "5").lifecycle[-1].error_code == 5011  # kept through the codec


def test_messages_round_trip_and_query(store: Store) -> None:
    for n, to in enumerate(["a", "b", "a"]):
        store.insert_messages([(message(message_id=str(n), to=to, created_at=100.0 + n), None)], 100.0)
    got = store.get_message("t", "1")
    assert got == message(message_id="1", to="b", created_at=101.0)
    assert [m.message_id for m in store.find_messages(MessageQuery(to="a"))] == ["2", "0"]
    assert [m.message_id for m in store.find_messages(MessageQuery(tenant="t", limit=1))] == ["2"]
    assert store.find_messages(MessageQuery(tenant="nobody")) == []


def test_the_newest_messages_come_newest_first_beyond_one_read(roomy: Store) -> None:
    """The console's list (unfiltered: the newest `limit`, read no further) and a filter whose
    matches lie past the first chunk a store reads (Redis reads 500 at a time)."""
    batch = [(message(message_id=f"{n:04d}", tenant="t" if n % 3 else "u", to="old" if n < 3 else f"+65{n}",
                      created_at=100.0 + n, expires_at=400.0 + n), None) for n in range(1200)]
    roomy.insert_messages(batch[:600], 100.0)
    roomy.insert_messages(batch[600:], 100.0)
    newest = roomy.find_messages(MessageQuery(limit=5))
    assert [m.message_id for m in newest] == ["1199", "1198", "1197", "1196", "1195"]
    assert [m.message_id for m in roomy.find_messages(MessageQuery(tenant="u", limit=3))] == ["1197", "1194", "1191"]
    assert [m.message_id for m in roomy.find_messages(MessageQuery(to="old"))] == ["0002", "0001", "0000"]
    assert [m.message_id for m in roomy.find_messages(MessageQuery(tenant="t", to="old"))] == ["0002", "0001"]


def test_clock_offsets(store: Store) -> None:
    store.advance_clock(10)
    store.advance_clock(5, "t")
    assert (store.clock_offset("t"), store.clock_offset("u")) == (15, 10)
    store.reset()
    assert store.clock_offset("t") == 0


def test_reset_one_tenant(store: Store) -> None:
    store.insert_messages([(message(message_id="1"), None), (message(message_id="2", tenant="u"), None)], 100.0)
    store.reset("t")
    assert store.get_message("t", "1") is None and store.get_message("u", "2") is not None


def test_purge_and_cap(store: Store) -> None:
    store.insert_messages([(message(message_id="1"), "k")], 100.0)
    assert store.purge(1000.0 + 300 + 61) == 1 and store.count_messages() == 0
    for n in range(60):
        store.insert_messages([(message(message_id=f"m{n}"), None)], 100.0)
    assert store.count_messages() <= 50


@pytest.mark.parametrize("backend", BACKENDS)
def test_tenants_over_max_tenants_are_forgotten_least_recent_first(backend: str, tmp_path: Path, real: list[float],
                                                                   request: pytest.FixtureRequest) -> None:
    clock = lambda: real[0]  # noqa: E731
    limits = {**LIMITS, "max_tenants": 3}
    if backend == "memory":
        store: Store = MemoryStore(real_time=clock, **limits)
    elif backend == "sqlite":
        store = SqliteStore(tmp_path / "state.db", real_time=clock, **limits)
    else:
        store = RedisStore(request.getfixturevalue("redis_url"), real_time=clock, **limits)
        store.db.flushdb()  # type: ignore[attr-defined]
    try:
        for n in range(10):
            real[0] += 120  # each dev_key active later than the one before
            store.insert_messages([(message(message_id=str(n), tenant=f"k{n}", created_at=real[0],
                                            expires_at=real[0] + 10_000), None)], real[0])
            store.advance_clock(5, f"k{n}")
        store.housekeeping()
        assert sorted(store.tenants()) == ["k7", "k8", "k9"]
        assert store.get_message("k2", "2") is None and store.get_message("k9", "9") is not None
        assert store.clock_offset("k2") == 0 and store.clock_offset("k9") == 5
    finally:
        store.close()


def test_verify_is_atomic_under_32_threads(store: Store) -> None:
    store.insert_messages([(message(message_id="race"), None)], 100.0)
    barrier = threading.Barrier(32)
    outcomes: list[Any] = []

    def attempt() -> None:
        barrier.wait(timeout=10)
        outcomes.append(store.update_message("t", "race", lambda m: verify_step(m, "123456", 200.0)))

    threads = [threading.Thread(target=attempt) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert outcomes.count(Outcome.VERIFIED) == 1 and outcomes.count(Outcome.ALREADY_VERIFIED) == 31


def test_a_purged_message_frees_its_resend_key(store: Store) -> None:
    store.insert_messages([(message(message_id="old", to="a"), "ka")], 100.0)
    store.insert_messages([(message(message_id="mine", to="b"), "kb")], 100.0)
    store.insert_messages([(message(message_id="new", to="b"), "kb")], 500.0)  # "mine" expired: "new" holds kb
    assert store.purge(1000.0 + 300 + 61) == 3
    if isinstance(store, RedisStore):  # the resend-key hash must not keep keys of purged messages
        assert store.db.hgetall(store._k("t", "act")) == {}
    assert store.insert_messages([(message(message_id="again", to="a"), "ka")], 100.0) is None


def test_control_values(store: Store) -> None:
    store.set_value("scenario:", "flaky")
    store.set_value("scenario:alice", "outage")
    store.set_value("other", "x")
    assert store.get_values(["scenario:alice", "scenario:", "scenario:bob"]) == {
        "scenario:alice": "outage", "scenario:": "flaky"}
    assert store.values("scenario:") == {"scenario:": "flaky", "scenario:alice": "outage"}
    store.set_value("scenario:alice", None)
    store.reset()  # OTP state only: the control plane's choices stay
    assert store.values("scenario:") == {"scenario:": "flaky"}


def test_progress_counts_atomically_under_32_threads(store: Store) -> None:
    barrier = threading.Barrier(32)
    seen: list[int] = []

    def bump(data: dict[str, Any] | None) -> tuple[dict[str, Any], int]:
        count = (data or {}).get("n", 0) + 1
        return {"n": count}, count

    def attempt() -> None:
        barrier.wait(timeout=10)
        seen.append(store.update_progress("flaky", "t", bump))

    threads = [threading.Thread(target=attempt) for _ in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(seen) == list(range(1, 33))  # every caller saw its own step, none was lost


def test_progress_is_kept_per_scenario_and_tenant(store: Store) -> None:
    def mark(value: str) -> Any:
        return lambda data: ({"v": value}, data)

    for scenario, tenant in [("a", "t"), ("a", "u"), ("b", "t")]:
        store.update_progress(scenario, tenant, mark(f"{scenario}{tenant}"))
    store.clear_progress("a", "t")
    assert store.update_progress("a", "t", mark("x")) is None
    assert store.update_progress("a", "u", mark("x")) == {"v": "au"}
    store.clear_progress(tenant="t")
    assert store.update_progress("b", "t", mark("x")) is None
    store.clear_progress()
    assert store.update_progress("a", "u", mark("x")) is None


def record(n: int, kind: str = "request") -> StreamEvent:
    return StreamEvent(kind, "t" if n % 2 else "u", float(n), float(n) + 0.5, {"n": n})


def test_the_stream_keeps_the_newest_with_increasing_ids(store: Store) -> None:
    first = store.append_events([record(n) for n in range(4)])
    second = store.append_events([record(n) for n in range(4, 8)])
    assert first + second == list(range(first[0], first[0] + 8))
    store.housekeeping()  # max_events is 5
    newest = store.recent_events(limit=10)
    assert [e.data["n"] for e in newest] == [7, 6, 5, 4, 3]  # the size holds, newest first
    assert [e.seq for e in newest] == second[::-1] + [first[-1]]
    assert (newest[0].type, newest[0].tenant, newest[0].at, newest[0].virtual_at) == ("request", "t", 7.0, 7.5)
    assert store.event_bounds() == (first[-1], second[-1])
    assert [e.data["n"] for e in store.recent_events("t", limit=10)] == [7, 5, 3]
    assert [e.data["n"] for e in store.read_events(after=second[0])] == [5, 6, 7]  # oldest first
    assert [e.data["n"] for e in store.read_events(tenant="u", types=["request"])] == [4, 6]
    assert [e.data["n"] for e in store.read_events(limit=2)] == [3, 4]
    assert store.read_events(types=["message"]) == [] and store.read_events(after=second[-1]) == []
    store.reset()
    assert store.recent_events() == [] and store.event_bounds() == (second[-1] + 1, second[-1])
    assert store.append_events([record(9)]) == [second[-1] + 1]  # the numbering goes on


def test_message_writes_stream_their_new_steps(store: Store) -> None:
    assert store.insert_messages([(message(message_id="m1"), "k")], 100.0) is None
    [created] = store.read_events(types=["message"])
    assert (created.tenant, created.data["message_id"], created.data["new"]) == ("t", "m1", True)
    assert [s["status"] for s in created.data["steps"]] == ["delivered"] and created.data["code"] == "123456"
    assert store.insert_messages([(message(message_id="m2"), "k")], 100.0) is not None  # 3004: nothing stored
    assert store.update_message("t", "m1", lambda m: verify_step(m, "000000", 101.0, 9.0)) is Outcome.WRONG
    assert store.update_message("t", "m1", lambda m: (m, None)) is None  # no new step: no record
    [wrong] = store.read_events(after=created.seq)
    assert [s["status"] for s in wrong.data["steps"]] == ["verified_failed"] and wrong.data["new"] is False
    assert (wrong.data["attempts"], wrong.data["status"]) == (1, "verified_failed")
    assert wrong.data["steps"][0]["real_at"] == 9.0
    assert store.find_message("m1") == store.get_message("t", "m1") and store.find_message("m2") is None


def test_claims_give_consumers_disjoint_shares_and_lost_ones_come_back(
        store: Store, request: pytest.FixtureRequest, real: list[float]) -> None:
    other = sibling(store, request, real)
    seqs = store.append_events([record(n) for n in range(5)])
    mine = [e.seq for e in store.claim_events("sender", 2, 30)]
    theirs = [e.seq for e in other.claim_events("sender", 100, 30)]
    assert mine + theirs == seqs  # disjoint, in order, nothing lost
    assert store.claim_events("sender", 100, 30) == []  # all leased
    assert [e.seq for e in store.claim_events("auditor", 100, 30)] == seqs  # another consumer: its own cursor
    assert store.ack_events("sender", [mine[0], *theirs]) == 4 and store.ack_events("sender", theirs) == 0
    real[0] += 31  # the lease of the one left unacknowledged runs out: it comes back, once
    assert [e.seq for e in other.claim_events("sender", 100, 30)] == [mine[1]]
    assert store.claim_events("sender", 100, 30) == []


def test_timed_steps_fall_due_once_and_come_closer_with_the_clock(store: Store) -> None:
    assert store.insert_messages([(message(message_id="d1"), None)], 100.0) is None  # expires at 400
    assert store.insert_messages([(message(message_id="d2", tenant="u"), None)], 100.0) is None
    store.advance_clock(10.0, "t")  # t's timeout comes 10 s closer on the base clock
    assert store.due_messages(389.0, 10) == []
    assert store.due_messages(390.0, 10) == [("t", "d1")]
    assert store.due_messages(390.0, 10) == []  # handed out once...
    store.update_message("t", "d1", lambda m: (m, None))  # ...until an update sets its next step
    assert store.due_messages(390.0, 10) == [("t", "d1")]
    store.update_message("t", "d1", lambda m: (settle(m, 400.0, 5.0), None))
    settled = store.get_message("t", "d1")
    assert settled is not None and settled.lifecycle[-1].status == "verified_timeout"
    assert store.due_messages(10_000.0, 10) == [("u", "d2")]  # d1 has no step left to come
    assert store.read_events(types=["message"])[-1].data["steps"][-1]["status"] == "verified_timeout"


def test_processes_sharing_a_store_get_node_numbers_of_their_own(store: Store, request: pytest.FixtureRequest) -> None:
    """Message ids carry a node number; replicas in containers all have the same pids, so a
    shared store counts the numbers out (else two replicas' ids collide, and one message
    overwrites the other)."""
    if isinstance(store, MemoryStore):  # no other process shares it; the mocks of this one take turns
        first = store.next_node()
        assert first == os.getpid() and store.next_node() == first + 1
        return
    other = (SqliteStore(store.path) if isinstance(store, SqliteStore)
             else RedisStore(request.getfixturevalue("redis_url")))
    first = store.next_node()
    assert other.next_node() == first + 1 and store.next_node() == first + 2
    store.reset()  # a live process may still hold any number handed out: never counted again
    assert other.next_node() == first + 3
    one, two = MessageIds(issue=store.next_node), MessageIds(issue=other.next_node)  # one pid, two "replicas"
    made = [ids.next() for _ in range(3000) for ids in (one, two)]
    assert len(set(made)) == len(made)


def test_sqlite_caches_never_serve_what_another_process_changed(tmp_path: Path) -> None:
    """Two stores on one file stand for two worker processes: each caches templates, clocks and
    control values, and sees the other's writes at once."""
    mine, theirs = SqliteStore(tmp_path / "shared.db"), SqliteStore(tmp_path / "shared.db")
    mine.seed_tenant("t", [Template("a", {"send_channel_strategy": "sms"}, 1)])
    for _ in range(2):  # the second read comes from the cache
        assert mine.get_template("t", "a").status == 2 and mine.clock_offset("t") == 0  # type: ignore[union-attr]
        assert mine.get_values(["scenario:"]) == {} and mine.get_template("t", "b") is None
    theirs.replace_template("t", Template("a", {"send_channel_strategy": "sms"}, 1, status=3))
    assert mine.get_template("t", "a").status == 3  # type: ignore[union-attr]
    theirs.insert_template("t", Template("b", {"send_channel_strategy": "sms"}, 1))
    assert mine.get_template("t", "b") is not None
    theirs.advance_clock(30, "t")
    assert mine.clock_offset("t") == 30
    theirs.set_value("scenario:", "outage")
    assert mine.get_values(["scenario:"]) == {"scenario:": "outage"}
    theirs.reset("t")
    assert mine.get_template("t", "a") is None and mine.clock_offset("t") == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_otp_flow_on_each_backend(backend: str, tmp_path: Path, validator: Any,
                                      request: pytest.FixtureRequest) -> None:
    url = {"memory": "memory", "sqlite": f"sqlite:{tmp_path / 'flow.db'}"}.get(backend)
    url = url or request.getfixturevalue("redis_url")
    client = Client(create_app({"store": url, "validate_responses": "raise", "seed": 2}), validator)
    message_id = client.send().get_json()["message_id"]
    assert client.send().get_json()["code"] == 3004
    code = client.code_of(message_id)
    assert client.verify(message_id, "nope").get_json()["verified"] is False
    assert client.verify(message_id, code).get_json()["verified"] is True
    assert client.verify(message_id, code).get_json()["code"] == 3003
    assert client.get("/v1/template-configs").status_code == 200


@pytest.mark.served
def test_sqlite_state_survives_a_restart(tmp_path: Path) -> None:
    import requests

    store = f"sqlite:{tmp_path / 'durable.db'}"
    process, url = start("--set", f"store={store}")
    try:
        sent = requests.post(f"{url}/v1/messages", json={"to": PHONE, "template": {"id": "test-template-1"}},
                             headers=basic(), timeout=5).json()
        code = requests.get(f"{url}/_mock/messages/{sent['message_id']}", timeout=5).json()["code"]
    finally:
        stop(process)
    process, url = start("--set", f"store={store}")
    try:
        verified = requests.post(f"{url}/v1/verifications", json={"message_id": sent["message_id"],
                                                                  "verify_code": code}, headers=basic(), timeout=5)
        assert verified.json()["verified"] is True
    finally:
        stop(process)


@pytest.mark.served
def test_a_restart_takes_the_global_scenario_from_the_command_line(tmp_path: Path) -> None:
    import requests

    store = f"sqlite:{tmp_path / 'durable.db'}"
    process, url = start("--set", f"store={store}", "--scenario", "outage")
    try:
        assert requests.get(f"{url}/_mock/scenario", timeout=5).json()["global"] == "outage"
        requests.put(f"{url}/_mock/scenario", json={"name": "flaky", "dev_key": "kept"}, timeout=5)
    finally:
        stop(process)
    process, url = start("--set", f"store={store}")
    try:
        active = requests.get(f"{url}/_mock/scenario", timeout=5).json()
        assert active["global"] is None and active["keys"] == {"kept": "flaky"}  # per-key choices are state
    finally:
        stop(process)


def test_memory_store_keeps_messages_packed_out_of_the_garbage_collector() -> None:
    import gc

    store = MemoryStore()
    events = (Event("plan", 100.0), Event("verified_failed", 101.5, "wrong code, attempt 1 of 3"))
    original = message(params={"z": "1", "a": "2"}, lifecycle=events, subject=None, never_verifies=True)
    assert store.insert_messages([(original, "k")], 100.0) is None
    for _ in range(3):  # each full collection untracks one more level of nested tuples
        gc.collect()
    packed = store._tenants["t"].messages["1"]  # noqa: SLF001 - what the store holds
    assert type(packed) is tuple and not gc.is_tracked(packed)
    got = store.get_message("t", "1")
    assert got == original and got is not None and list(got.params) == ["z", "a"]
    assert got.params is not store.get_message("t", "1").params  # type: ignore[union-attr]  # fresh dicts
    assert store.find_messages(MessageQuery(tenant="t", to=original.to, template_id="tpl")) == [original]
    assert store.find_messages(MessageQuery(to="nobody")) == []
    blocked = store.insert_messages([(message(message_id="2"), "k")], 100.0)
    assert blocked == original
    assert store.update_message("t", "1", lambda m: verify_step(m, "000000", 102.0)) is Outcome.WRONG
    updated = store.get_message("t", "1")
    assert updated is not None and updated.attempts == 1 and updated.lifecycle[:2] == events
    assert updated.lifecycle[-1].status == "verified_failed" and list(updated.params) == ["z", "a"]


def delivery(n: int, tenant: str = "t", **changes: Any) -> Delivery:
    made = Delivery(f"d{n}", tenant, "", "message_status", '{"total": 1, "rows": [{}]}', ("sent",), (f"m{n}",),
                    float(n), next_at=float(n))
    return replace(made, **changes)


def test_deliveries_are_kept_once_and_taken_by_one_process_at_a_time(
        store: Store, request: pytest.FixtureRequest, real: list[float]) -> None:
    other = sibling(store, request, real)
    assert store.add_deliveries([delivery(1), delivery(2, "u"), delivery(3)]) == 3
    assert other.add_deliveries([delivery(1)]) == 0  # routed twice: kept once
    assert store.due_deliveries(2.0, 10) == ["d1", "d2"] and store.due_deliveries(0.5, 10) == []
    taken = [s.update_delivery("d1", lambda d: deliveries.claim(d, 2.0, token, 10.0))
             for s, token in ((store, "a"), (other, "b"))]
    assert taken == [True, False]  # one process attempts it
    assert store.due_deliveries(5.0, 10) == ["d2", "d3"]  # leased: not due until the lease ends
    attempt = Attempt(2.0, "http://127.0.0.1/", {}, 500, "no", 1.0, "HTTP 500", SCHEDULED, False)
    assert other.update_delivery("d1", lambda d: deliveries.finish(d, "b", attempt, (1.0,), 2.0)) is False
    assert store.update_delivery("d1", lambda d: deliveries.finish(d, "a", attempt, (1.0,), 2.0)) is True
    kept = other.get_delivery("d1")
    assert kept is not None and kept.status == "pending" and kept.next_at == 3.0 and len(kept.attempts) == 1
    assert other.update_delivery("d1", lambda d: deliveries.claim(d, 3.0, "b", 10.0)) is True
    assert other.update_delivery("d1", lambda d: deliveries.finish(d, "b", attempt, (1.0,), 3.0)) is True
    failed = store.get_delivery("d1")
    assert failed is not None and failed.status == "failed" and failed.due is None  # exhausted: kept, failed
    assert "d1" not in store.due_deliveries(1e9, 10)
    assert [d.id for d in other.find_deliveries(DeliveryQuery(status="failed"))] == ["d1"]
    assert [d.id for d in store.find_deliveries(DeliveryQuery(tenant="t"))] == ["d3", "d1"]
    assert [d.id for d in store.find_deliveries(DeliveryQuery(message_id="m2"))] == ["d2"]
    assert [d.id for d in store.find_deliveries(DeliveryQuery(since=2.0, limit=1))] == ["d3"]
    assert store.update_delivery("nope", lambda d: (d, True)) is None
    store.reset("u")
    assert other.get_delivery("d2") is None and other.get_delivery("d3") is not None
    store.reset()
    assert other.find_deliveries(DeliveryQuery()) == []


def test_the_delivery_log_is_bounded_finished_ones_go_first(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    for backend in BACKENDS:
        small = new_store(backend, tmp_path / "small.db", request, max_deliveries=3)
        small.add_deliveries([delivery(1, status="success", next_at=None), delivery(2), delivery(3)])
        small.add_deliveries([delivery(4)])
        assert sorted(d.id for d in small.find_deliveries(DeliveryQuery())) == ["d2", "d3", "d4"], backend
        small.close()


def test_a_full_log_of_pending_deliveries_drops_the_adding_keys_own(tmp_path: Path,
                                                                    request: pytest.FixtureRequest) -> None:
    """With max_deliveries full of pending deliveries, a key's new ones push out its own oldest
    pending, never another key's (the new one itself when it has none other)."""
    for backend in BACKENDS:
        small = new_store(backend, tmp_path / "full.db", request, max_deliveries=3)
        small.add_deliveries([delivery(1, "victim"), delivery(2, "victim"), delivery(3, "noisy")])
        small.add_deliveries([delivery(4, "noisy")])
        assert sorted(d.id for d in small.find_deliveries(DeliveryQuery())) == ["d1", "d2", "d4"], backend
        small.add_deliveries([delivery(5, "other")])  # no pending of its own: the new one is not kept
        assert sorted(d.id for d in small.find_deliveries(DeliveryQuery())) == ["d1", "d2", "d4"], backend
        small.close()


def test_two_mocks_sharing_one_memory_store_never_repeat_a_message_id() -> None:
    """Each mock of a store takes its own node of the message ids (the memory store used to give
    every one of them the process id, so two mocks' ids of one millisecond could be equal)."""
    from mockserver import OtpMock

    shared = MemoryStore()
    mocks = [OtpMock({"seed": 1}, store=shared), OtpMock({"seed": 2}, store=shared)]
    auth = {"Authorization": "Basic " + base64.b64encode(b"pair:pair").decode(), "Content-Type": "application/json"}
    ids = []
    for n in range(600):  # both in the same milliseconds, with sequence numbers alike
        for lane, mock in enumerate(mocks):
            body = json.dumps({"to": f"+4477009{lane}{n:04d}", "template": {"id": "sms-default"}}).encode()
            reply = mock.handle("POST", "/v1/messages", auth, body)
            assert reply.status == 200, reply.body
            ids.append(reply.body["message_id"])
    assert len(set(ids)) == len(ids) == 1200
