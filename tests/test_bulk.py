"""The bulk-load helper of tests and benchmarks (tests/bulk.py), on the memory and SQLite stores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from bulk import DELIVERY, bulk_load

from conftest import Client, ResponseValidator
from mockserver import create_app
from mockserver.otp.clock import ManualClock
from mockserver.store import MemoryStore, SqliteStore, Store

RETENTION = 60.0
TTL = 300.0


@pytest.fixture
def real() -> ManualClock:
    """The store's real clock, moved by hand."""
    return ManualClock(1_000_000.0)


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path, real: ManualClock) -> Iterator[Store]:
    if request.param == "memory":
        yield MemoryStore(retention_seconds=RETENTION, max_messages=100_000, real_time=real.now)
    else:
        backend = SqliteStore(tmp_path / "bulk.db", retention_seconds=RETENTION, max_messages=100_000,
                              real_time=real.now)
        yield backend
        backend.close()


@pytest.fixture
def api(store: Store, clock: ManualClock, validator: ResponseValidator) -> Client:
    return Client(create_app({"seed": 1234, "validate_responses": "raise"}, clock=clock, store=store), validator)


def test_stores_the_count_asked_in_batches(store: Store) -> None:
    ids = bulk_load(store, 2_500, now=5_000.0, batch_size=1_000)
    assert len(ids) == len(set(ids)) == 2_500 == store.count_messages()
    assert all(len(i) == 19 and i.isdigit() for i in ids)
    message = store.get_message("team-a", ids[1_234])
    assert message is not None and message.code is not None
    assert len(message.code) == 6 and message.code.isdigit() and message.code in message.text
    assert [e.status for e in message.lifecycle] == list(DELIVERY)
    assert (message.created_at, message.expires_at, message.params) == (5_000.0, 5_000.0 + TTL, {})
    again = bulk_load(store, 10, sample=3)  # a second load: new ids and recipients, nothing refused
    assert len(again) == 3 and store.count_messages() == 2_510
    assert again[-1] not in ids and store.get_message("team-a", again[-1]) is not None


def test_bulk_messages_verify_and_hold_the_resend_window(api: Client, store: Store, clock: ManualClock) -> None:
    ids = bulk_load(store, 300, now=clock.now(), sample=5)
    message = store.get_message("team-a", ids[2])
    assert message is not None and message.code is not None
    latest = api.get(f"/_mock/messages/latest?to={message.to.replace('+', '%2B')}&dev_key=team-a", key=None)
    assert latest.get_json()["message_id"] == message.message_id
    assert api.verify(message.message_id, message.code).get_json()["verified"] is True
    other = store.get_message("team-a", ids[3])
    assert other is not None
    assert api.send(other.to, template="sms-default").get_json()["code"] == 3004  # its code is still valid
    assert api.send("+447700900123", template="sms-default").status_code == 200


def test_expired_messages_fail_verification_and_are_purged(api: Client, store: Store, clock: ManualClock,
                                                           real: ManualClock) -> None:
    ids = bulk_load(store, 200, now=clock.now(), expired=True)
    message = store.get_message("team-a", ids[0])
    assert message is not None and message.code is not None and message.expires_at is not None
    assert message.expires_at < clock.now()
    body = api.verify(message.message_id, message.code).get_json()
    assert body["code"] == 3003 and "expired" in body["message"]
    assert api.send(message.to, template="sms-default").status_code == 200  # no longer blocks a resend
    assert store.purge(real.now() + TTL + RETENTION - 1) == 0  # retention runs in real time from storing
    real.advance(TTL + RETENTION + 1)
    assert store.purge(real.now()) == 201 and store.count_messages() == 0
    assert store.get_message("team-a", ids[-1]) is None
