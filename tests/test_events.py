"""Messages composed once, their lifecycle as events, the stream and the journal on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis_server import redis_server

from conftest import PHONE, Client, ResponseValidator, basic
from mockserver import create_app
from mockserver.otp.clock import ManualClock
from mockserver.otp.model import Message
from mockserver.store import MemoryStore

SEND = {"to": PHONE, "template": {"id": "test-template-1"}}


class RecordingStore(MemoryStore):
    """A memory store that keeps every version of a message it is asked to write."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: list[Message] = []

    def insert_messages(self, batch: list[tuple[Message, str | None]], now: float, also: Any = ()) -> Message | None:
        self.writes += [m for m, _ in batch]
        return super().insert_messages(batch, now, also)

    def update_message(self, tenant: str, message_id: str, step: Any, also: Any = None) -> Any:
        def recorded(message: Message) -> Any:
            updated, result = step(message)
            if updated is not message:
                self.writes.append(updated)
            return updated, result

        return super().update_message(tenant, message_id, recorded, also)


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "redis":
        import redis

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
        yield url
    else:
        yield "memory" if request.param == "memory" else f"sqlite:{tmp_path / 'state.db'}"


def first_events(client: Client, message_id: str) -> dict[str, Any]:
    events = client.get("/_mock/events?type=message&limit=1000", key=None).get_json()["events"]
    return next(e for e in events if e["data"]["message_id"] == message_id)


def test_scenario_and_magic_effects_are_in_the_first_stored_version(validator: ResponseValidator) -> None:
    """Channel fallback, a fixed code and a short expiry are decided before the store write: the
    first version stored, and the first event streamed, already hold them. Nothing rewrites them."""
    store, clock = RecordingStore(), ManualClock()
    client = Client(create_app({"seed": 1, "validate_responses": "raise"}, clock=clock, store=store), validator)
    for name, key in (("channel-fallback", "fb"), ("short-expiry", "short")):
        assert client.call("PUT", "/_mock/scenario", key=None, json={"name": name, "dev_key": key}).status_code == 200
    fallback = client.send(template="whatsapp-sms-voice", key="fb").get_json()
    fixed = client.send(to="+12025550199").get_json()
    short = client.send(key="short").get_json()
    assert fallback["send_channel"] == "whatsapp"  # the reply names the strategy's first channel, as EngageLab's
    by_id = {m.message_id: m for m in store.writes}
    assert len(store.writes) == 3, "a send wrote its message more than once"
    first = by_id[fallback["message_id"]]
    assert first.channel == "sms" and [(e.status, e.detail) for e in first.lifecycle] == [
        ("plan", ""), ("target_valid", ""), ("sent", "whatsapp"), ("delivered_failed", "whatsapp"),
        ("sent", "sms"), ("delivered", "sms")]
    assert by_id[fixed["message_id"]].code == "123456" and "123456" in by_id[fixed["message_id"]].text
    assert by_id[short["message_id"]].expires_at == by_id[short["message_id"]].created_at + 30
    event = first_events(client, fallback["message_id"])["data"]
    assert event["new"] and event["channel"] == "sms" and event["steps"][-1]["status"] == "delivered"
    assert first_events(client, fixed["message_id"])["data"]["code"] == "123456"
    short_event = first_events(client, short["message_id"])["data"]
    assert short_event["expires_at"] == short_event["created_at"] + 30


def test_a_custom_message_to_many_gets_the_scenario_for_every_recipient(make_client: Any) -> None:
    client = make_client(scenario="channel-fallback")
    body = {"to": ["+6591230001", "+6591230002"], "template": {"id": "notification-template"}}
    assert client.post("/v1/custom-messages", json=body).status_code == 200
    messages = client.get("/_mock/messages", key=None).get_json()["messages"]
    assert [m["lifecycle"][2]["status"] for m in messages] == ["sent", "sent"]
    assert len({m["channel"] for m in messages}) == 1


def test_the_stream_is_the_same_on_every_store(store_url: str, validator: ResponseValidator) -> None:
    client = Client(create_app({"store": store_url, "seed": 5, "validate_responses": "raise"}), validator)
    message_id = client.send().get_json()["message_id"]
    code = client.code_of(message_id)
    assert client.verify(message_id, "000000" if code != "000000" else "111111").status_code == 200
    assert client.verify(message_id, code).get_json()["verified"] is True
    page = client.get("/_mock/events", key=None).get_json()
    kinds = [(e["type"], e["data"].get("operation"), [s["status"] for s in e["data"].get("steps", [])])
             for e in page["events"]]
    assert kinds == [  # a message's record comes in the write that changed it, before its request's
        ("message", "send_otp", ["plan", "target_valid", "sent", "delivered"]),
        ("request", "send_otp", []),
        ("message", "send_otp", ["verified_failed"]),
        ("request", "verify_otp", []),
        ("message", "send_otp", ["verified"]),
        ("request", "verify_otp", []),
    ]
    ids = [e["id"] for e in page["events"]]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) and page["next"] == ids[-1] == page["head"]
    later = client.get(f"/_mock/events?after={ids[1]}&type=request&dev_key=team-a", key=None).get_json()
    assert [e["data"]["operation"] for e in later["events"]] == ["verify_otp", "verify_otp"]
    assert client.get(f"/_mock/events?after={page['next']}", key=None).get_json()["events"] == []


def test_lifecycle_events_come_in_the_order_they_happen(make_client: Any) -> None:
    client = make_client()
    message_id = client.send().get_json()["message_id"]
    code = client.code_of(message_id)
    client.verify(message_id, "000000" if code != "000000" else "111111")
    client.verify(message_id, code)
    steps = [(s["status"], e["type"]) for e in client.get("/_mock/events?type=message", key=None).get_json()["events"]
             for s in e["data"]["steps"]]
    assert [s for s, _ in steps] == ["plan", "target_valid", "sent", "delivered", "verified_failed", "verified"]


def test_an_expiry_is_streamed_once_when_the_clock_passes_it(make_client: Any) -> None:
    client = make_client()
    message_id = client.send().get_json()["message_id"]
    client.advance(299)
    assert [e for e in client.get("/_mock/events?type=message", key=None).get_json()["events"]
            if e["data"]["steps"][-1]["status"] == "verified_timeout"] == []
    client.advance(2)  # past the 5-minute TTL: the step is recorded by the clock move itself
    timeouts = [e for e in client.get("/_mock/events?type=message", key=None).get_json()["events"]
                if e["data"]["steps"][-1]["status"] == "verified_timeout"]
    assert len(timeouts) == 1 and timeouts[0]["data"]["message_id"] == message_id
    assert timeouts[0]["virtual_at"] == client.get(f"/_mock/messages/{message_id}", key=None).get_json()["expires_at"]
    client.advance(600)
    client.verify(message_id, "123456")  # an expired code: 3003, and no second timeout
    events = client.get("/_mock/events?type=message", key=None).get_json()["events"]
    assert sum(1 for e in events for s in e["data"]["steps"] if s["status"] == "verified_timeout") == 1


@pytest.mark.parametrize("settings", [{"delivery_delay_seconds": 20}])
def test_delivery_can_follow_a_delay_on_the_virtual_clock(client: Client) -> None:
    message_id = client.send().get_json()["message_id"]
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    assert message["status"] == "sent" and [s["status"] for s in message["lifecycle"]][-1] == "sent"
    client.advance(20)
    message = client.get(f"/_mock/messages/{message_id}", key=None).get_json()
    assert message["status"] == "delivered" and message["lifecycle"][-1]["at"] == _plus(message["created_at"], 20)
    assert client.verify(message_id, message["code"]).get_json()["verified"] is True


def _plus(stamp: str, seconds: int) -> str:
    import datetime as dt

    moved = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00")) + dt.timedelta(seconds=seconds)
    return moved.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_the_journal_keeps_what_judges_a_client(client: Client) -> None:
    client.post("/v1/messages", json=SEND, headers={**basic(), "X-Request-Id": "r-1", "X-Api-Token": "tok-123"})
    client.get("/v1/nothing")
    client.call("GET", "/v1/messages")
    client.advance(5)
    entries = client.get("/_mock/requests?limit=10", key=None).get_json()["requests"]
    assert [(e["method"], e["path"], e["status"]) for e in entries] == [
        ("GET", "/v1/messages", 405), ("GET", "/v1/nothing", 404), ("POST", "/v1/messages", 200)]
    sent = entries[-1]
    assert sent["headers"]["authorization"] == "Basic ***" and sent["headers"]["x-api-token"] == "***"
    assert sent["headers"]["x-request-id"] == "r-1" and sent["virtual_at"] == "2025-11-24T16:00:00.000Z"
    assert '"send_channel":"whatsapp"' in sent["reply"] and PHONE in sent["body"]
    assert "s3cret" not in str(entries) and "tok-123" not in str(entries)
    assert basic()["Authorization"] not in str(entries)
    control = client.get("/_mock/requests?plane=control", key=None).get_json()["requests"]
    assert [(e["path"], e["plane"], e["status"]) for e in control] == [("/_mock/clock", "control", 200)]
    every = client.get("/_mock/requests?plane=all", key=None).get_json()["requests"]
    assert [e["plane"] for e in every] == ["control", "api", "api", "api"]
    assert client.get("/_mock/requests?plane=nope", key=None).status_code == 400


def test_secret_fields_of_bodies_are_masked(client: Client) -> None:
    client.post("/v1/messages", json={**SEND, "template": {"id": "x", "params": {"password": "hunter2"}}})
    body = client.get("/_mock/requests?limit=1", key=None).get_json()["requests"][0]["body"]
    assert "hunter2" not in body and '"password":"***"' in body


def test_claims_over_http_share_out_the_stream(client: Client) -> None:
    for n in range(5):
        client.send(to=f"+659123000{n}")
    mine = client.post("/_mock/events/claim", key=None, json={"consumer": "sender", "limit": 4}).get_json()["events"]
    theirs = client.post("/_mock/events/claim", key=None, json={"consumer": "sender"}).get_json()["events"]
    every = [e["id"] for e in client.get("/_mock/events?limit=1000", key=None).get_json()["events"]]
    claimed = [e["id"] for e in mine + theirs]
    assert sorted(claimed) == claimed and set(every) <= set(claimed) and len(set(claimed)) == len(claimed)
    acked = client.post("/_mock/events/ack", key=None, json={"consumer": "sender", "ids": claimed}).get_json()
    assert acked == {"acknowledged": len(claimed)}
    bad = client.post("/_mock/events/claim", key=None, json={"consumer": "", "limit": 5})
    assert bad.status_code == 400 and "consumer" in bad.get_json()["message"]


@pytest.mark.parametrize("query", ["after=-1", "after=x", "limit=0", "limit=1001", "type=nope"])
def test_bad_event_queries_are_refused(client: Client, query: str) -> None:
    reply = client.get(f"/_mock/events?{query}", key=None)
    assert reply.status_code == 400 and reply.get_json()["code"] == 400


def test_reset_clears_the_stream_but_keeps_the_numbering(client: Client) -> None:
    client.send()
    head = client.get("/_mock/events", key=None).get_json()["head"]
    client.post("/_mock/reset", key=None, content_type="application/json")
    page = client.get("/_mock/events", key=None).get_json()
    assert [(e["type"], e["data"]["path"]) for e in page["events"]] == [("control", "/_mock/reset")]
    assert page["events"][0]["id"] == head + 1
