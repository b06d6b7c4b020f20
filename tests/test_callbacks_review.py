"""The hostile review of the signed callbacks: each finding, fixed, with its test."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections import Counter
from typing import Any

import orjson
import pytest
from receiver import readme_receiver, receiver

from mockserver.callbacks.config import CallbackConfig
from mockserver.callbacks.delivery import SUCCESS, Delivery
from mockserver.callbacks.service import PREFIX, CallbackPolicy, Callbacks
from mockserver.mock import OtpMock
from mockserver.store.memory import MemoryStore

FAST = {"seed": 5, "callback_retry_seconds": "0.1,0.1,0.1", "callback_linger_seconds": 0.02,
        "callback_timeout_seconds": 0.5, "callback_targets": "loopback"}
JSON = {"Content-Type": "application/json"}


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


def _keyed_mock(tmp_path: Any, **more: Any) -> OtpMock:
    keys = tmp_path / "keys.yaml"
    keys.write_text("keys:\n  - {dev_key: team-a, dev_secret: pw-a}\n  - {dev_key: team-b, dev_secret: pw-b}\n",
                    encoding="utf-8")
    return OtpMock({**FAST, "keys_file": str(keys), "control_token": "tok", **more})


def _as(key: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode(), **JSON}


def test_a_trigger_cannot_speak_of_another_keys_message(tmp_path: Any) -> None:
    """Finding 2: override.message_id must be a message of the caller's key (404), and a key's
    credentials cannot override `to` (but with its own message's recipient)."""
    mock = _keyed_mock(tmp_path)
    as_a, as_b = _as("team-a", "pw-a"), _as("team-b", "pw-b")
    try:
        with receiver() as (_, url):
            assert mock.handle("PUT", "/_mock/callbacks", as_a, json.dumps({"url": url}).encode()).status == 200
            sent = {}
            for key, auth in (("team-a", as_a), ("team-b", as_b)):
                reply = mock.handle("POST", "/v1/messages", auth,
                                    b'{"to": "+6591234567", "template": {"id": "test-template-1"}}')
                sent[key] = reply.body["message_id"]

            def trigger(body: dict[str, Any], auth: dict[str, str] = as_a) -> Any:
                return mock.handle("POST", "/_mock/callbacks/trigger", auth, json.dumps(body).encode())

            theirs = trigger({"event": "delivered", "override": {"message_id": sent["team-b"]}})
            assert theirs.status == 404 and "override.message_id" in theirs.body["message"], theirs.body
            assert trigger({"event": "delivered", "message_id": sent["team-b"]}).status == 404
            assert trigger({"event": "delivered", "override": {"to": "+6599990000"}}).status == 404
            mine = trigger({"event": "delivered", "override": {"message_id": sent["team-a"]}})
            assert mine.status == 200, mine.body
            assert mine.body["message_ids"] == [sent["team-a"]]
            token = {"Authorization": "Bearer tok", **JSON}
            full = trigger({"event": "delivered", "dev_key": "team-a", "override": {"message_id": sent["team-b"]}},
                           token)
            assert full.status == 404  # not team-a's message, whoever asks
    finally:
        mock.close()


def test_verify_callback_id_takes_seconds_only_and_never_raises_on_odd_input() -> None:
    """Finding 3: a nonce's digits moved into a 13-digit timestamp keep the signature, so only
    10 digits of seconds verify; odd types are False; a bad tolerance is a ValueError."""
    import math

    from mockserver import verify_callback_id
    from mockserver.callbacks.signing import callback_id, parse

    header = callback_id("otp-hook", "s3cret")
    fields = parse(header)
    shifted = (f"timestamp={fields['timestamp'] + fields['nonce'][:3]};nonce={fields['nonce'][3:]};"
               f"username=otp-hook;signature={fields['signature']}")
    assert verify_callback_id(header, "otp-hook", "s3cret") is True
    assert verify_callback_id(shifted, "otp-hook", "s3cret") is False
    assert verify_callback_id(shifted, "otp-hook", "s3cret", tolerance=None) is False
    millis = callback_id("otp-hook", "s3cret", timestamp=int(time.time() * 1000))
    assert verify_callback_id(millis, "otp-hook", "s3cret") is False
    assert verify_callback_id(header.encode(), b"otp-hook", b"s3cret") is True  # bytes: as HTTP carries them
    for odd in (12345, [header], {"a": 1}, object()):
        assert verify_callback_id(odd, "otp-hook", "s3cret") is False  # type: ignore[arg-type]
        assert verify_callback_id(header, odd, "s3cret") is False  # type: ignore[arg-type]
        assert verify_callback_id(header, "otp-hook", odd) is False  # type: ignore[arg-type]
    assert verify_callback_id(header, None, "s3cret") is False  # type: ignore[arg-type]
    assert verify_callback_id(header.replace("username=otp-hook", "username=otp-hook "), "otp-hook",
                              "s3cret") is False  # exactly the username, no stripping
    assert verify_callback_id(header, "otp-hook ", "s3cret") is False
    assert verify_callback_id(header.replace("otp-hook", "ü"), "ü", "s3cret") is False  # a 401, no error
    for bad in (math.nan, math.inf, -1, "300", True):
        with pytest.raises(ValueError, match="tolerance"):
            verify_callback_id(header, "otp-hook", "s3cret", tolerance=bad)  # type: ignore[arg-type]


def test_the_readmes_flask_receiver_refuses_non_ascii_shifted_and_replayed_headers() -> None:
    """Finding 3: the README's example compares bytes (a non-ASCII value is a 401, never a 500),
    takes 10-digit timestamps only and refuses a header it has seen."""
    from mockserver.callbacks.signing import callback_id, parse

    client, scope = readme_receiver()
    body = {"total": 1, "rows": [{"message_id": "1", "status": {"message_status": "sent"}}]}
    good = callback_id(scope["USERNAME"], scope["SECRET"])
    fields = parse(good)
    shifted = (f"timestamp={fields['timestamp'] + fields['nonce'][:3]};nonce={fields['nonce'][3:]};"
               f"username={fields['username']};signature={fields['signature']}")
    for odd in (good.replace("username=otp-hook", "username=\u00fc"), good[:-64] + "\u00e9" * 64, shifted):
        assert client.post("/hook", json=body, headers={"X-CALLBACK-ID": odd}).status_code == 401
    assert client.post("/hook", json=body, headers={"X-CALLBACK-ID": good}).status_code == 200
    assert client.post("/hook", json=body, headers={"X-CALLBACK-ID": good}).status_code == 401  # a replay


def test_a_name_that_does_not_resolve_is_a_400_and_a_config_error(monkeypatch: Any) -> None:
    """Finding 4: `localhost.` (and any resolution error) is a clean 400 on PUT and a ConfigError
    line in the settings, never a 500 or a traceback."""
    import socket

    from mockserver.callbacks import targets
    from mockserver.errors import ConfigError

    with receiver() as (got, url):
        mock = OtpMock(FAST)
        try:
            dotted = url.replace("127.0.0.1", "localhost.")
            reply = mock.handle("PUT", "/_mock/callbacks", JSON, json.dumps({"url": dotted}).encode())
            assert reply.status == 200 and reply.body["probe"]["ok"] is True, reply.body  # RFC 6761: loopback

            def broken(*args: Any, **kwargs: Any) -> Any:
                raise socket.gaierror(-2, "Name or service not known")

            monkeypatch.setattr(targets, "resolve", broken)
            reply = mock.handle("PUT", "/_mock/callbacks", JSON, json.dumps({"url": dotted}).encode())
            assert reply.status == 400 and "does not resolve" in reply.body["message"], reply.body
        finally:
            mock.close()
        with pytest.raises(ConfigError, match="does not resolve"):
            OtpMock({**FAST, "callback_url": dotted}).close()
    monkeypatch.undo()
    OtpMock({**FAST, "callback_url": "http://localhost.:18777/"}).close()


def test_link_local_and_the_stores_port_are_never_targets() -> None:
    """Finding 5: metadata addresses are refused even under `any` (in every IPv6 spelling), the
    400 for them suggests no setting, and the mock's own Redis port is never a target."""
    mock = OtpMock({**FAST, "callback_targets": "any"})
    try:
        for url in ("http://169.254.169.254/", "http://[fe80::1]:8080/", "http://[::ffff:169.254.169.254]/",
                    "http://[64:ff9b::a9fe:a9fe]/", "http://0.0.0.0:8080/", "http://224.0.0.1:8080/"):
            reply = mock.handle("PUT", "/_mock/callbacks", JSON, json.dumps({"url": url}).encode())
            assert reply.status == 400, (url, reply.body)
            assert "whatever callback_targets says" in reply.body["message"], reply.body
            assert "set callback_targets" not in reply.body["message"]
    finally:
        mock.close()
    from mockserver.callbacks import targets

    assert targets.store_ports("redis://127.0.0.1:6390/0") == (6390,)
    assert targets.store_ports("redis://cache/0") == (6379,) and targets.store_ports("memory") == ()
    from mockserver.callbacks.transport import Transport

    answer = Transport("loopback", 0.5, refused_ports=(6390,)).post("http://127.0.0.1:6390/", b"{}", {})
    assert answer.error is not None and "own store" in answer.error
    from mockserver.callbacks.config import parse_config
    from mockserver.errors import ControlError

    try:
        parse_config({"url": "http://localhost:6390/"}, "loopback", refused_ports=(6390,))
    except ControlError as error:
        assert error.status == 400 and "own store" in error.message
    else:
        raise AssertionError("the store's port was accepted")


@pytest.mark.served
def test_parallel_resends_to_a_dead_receiver_leave_the_api_fast() -> None:
    """Finding 6: resend's POST runs on the request's thread; at most two at once in a process,
    the others a 429 at once, so 23 parallel resends to a receiver that never answers leave the
    API (and other control calls) fast."""
    import socket
    from concurrent.futures import ThreadPoolExecutor

    import requests

    from test_served import start, stop

    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(64)  # accepts connections (the backlog) and never answers
    url = f"http://127.0.0.1:{hole.getsockname()[1]}/hook"
    process, base = start("--set", "callback_targets=loopback", "--set", "callback_timeout_seconds=1.5",
                          "--set", "callback_retry_seconds=60", "--threads", "8")
    try:
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/hook"
        closed.close()  # refuses at once: the background's first attempts fail fast, the next is in 60 s
        assert requests.put(f"{base}/_mock/callbacks", json={"url": dead, "probe": False}, timeout=10).ok
        made = [requests.post(f"{base}/_mock/callbacks/trigger", json={"event": "account_login", "dev_key": "k"},
                              timeout=10).json()["id"] for _ in range(23)]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:  # bounded
            log = requests.get(f"{base}/_mock/callbacks/deliveries", timeout=10).json()["deliveries"]
            if len(log) == 23 and all(d["attempt_count"] == 1 for d in log):
                break
            time.sleep(0.05)
        assert requests.put(f"{base}/_mock/callbacks", json={"url": url, "probe": False}, timeout=10).ok
        with ThreadPoolExecutor(23) as pool:
            resends = [pool.submit(requests.post, f"{base}/_mock/callbacks/deliveries/{one}/resend", json={},
                                   timeout=20) for one in made]
            time.sleep(0.3)  # the resends are in
            started = time.monotonic()
            for i in range(5):
                assert requests.get(f"{base}/_mock/health", timeout=10).status_code == 200
                sent = requests.post(f"{base}/v1/messages", auth=("k", "pw"), timeout=10,
                                     json={"to": f"+659123450{i}", "template": {"id": "test-template-1"}})
                assert sent.status_code == 200, sent.text
            took = time.monotonic() - started
            statuses = Counter(f.result().status_code for f in resends)
        assert took < 1.0, took  # ten calls, none behind a resend
        assert statuses[429] >= 23 - 2 * 3 and set(statuses) <= {200, 429}, statuses
        busy = next(f.result().json() for f in resends if f.result().status_code == 429)
        assert set(busy) == {"code", "message"} and "under way" in busy["message"]
    finally:
        hole.close()
        code, out, err = stop(process)
        assert code == 0, err


def _half_answering(answer: bytes, close: bool) -> tuple[Any, str]:
    """A receiver that reads the request, writes `answer`, then closes or stalls (until its end)."""
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(5)

    def serve() -> None:
        try:
            conn, _ = server.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(3)
            try:
                request = b""
                while not request.endswith(b"\r\n\r\n{}"):  # the whole request (its body is `{}`)
                    more = conn.recv(65536)
                    if not more:
                        return
                    request += more
                conn.sendall(answer)
                if not close:
                    while conn.recv(1):  # stall until the mock's deadline ends it (bounded: timeout 3 s)
                        pass
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return server, f"http://127.0.0.1:{server.getsockname()[1]}/hook"


def test_a_half_answer_is_a_failed_attempt() -> None:
    """Finding 7: headers that do not end, or a body shorter than its Content-Length, within the
    timeout are a failed attempt ("incomplete answer"), whatever the status said."""
    from mockserver.callbacks.transport import Transport

    transport = Transport("loopback", 0.5)
    cases = [(b"HTTP/1.1 200 OK\r\nContent-Le", False), (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123", False),
             (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123", True)]
    for answer, close in cases:
        server, url = _half_answering(answer, close)
        try:
            got = transport.post(url, b"{}", {})
        finally:
            server.close()
        assert not got.ok and got.error is not None, (answer, got)  # a failed attempt, whatever came first:
        assert got.error.startswith(("incomplete answer", "timed out")), (answer, got)  # the cut or the timeout
    server, url = _half_answering(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", False)
    try:
        got = transport.post(url, b"{}", {})
    finally:
        server.close()
    assert got.ok and got.body == "ok", got


def test_listen_refuses_malformed_bodies_prints_verified_rows_only_and_drops_a_stalled_body() -> None:
    """Finding 8: `{"rows": ["status"]}` and `{"rows": 5}` are a 400 (no traceback); an unverified
    delivery's rows are not printed; printed values have control characters escaped; a body
    shorter than its Content-Length ends at the socket's timeout."""
    import socket

    import requests

    from mockserver.callbacks.listen import Listener
    from mockserver.callbacks.signing import callback_id

    printed: list[str] = []
    listener = Listener("http://127.0.0.1:1", None, secret="s", out=printed.append, read_seconds=0.5)
    stop = threading.Event()
    thread = threading.Thread(target=listener.serve, args=(stop,), daemon=True)
    thread.start()
    try:
        signed = {"X-CALLBACK-ID": callback_id("otp-mock-listen", "s"), "Content-Type": "application/json"}
        for body in ({"rows": ["status"]}, {"rows": 5}, {"rows": [{"status": "x"}, 3]}):
            reply = requests.post(listener.url, json=body, headers=signed, timeout=5)
            assert reply.status_code == 400 and "rows" in reply.json()["error"], (body, reply.text)
        forged = {"X-CALLBACK-ID": callback_id("otp-mock-listen", "wrong"), "Content-Type": "application/json"}
        row = {"message_id": "1\x1b[2J\nFAKE LINE", "status": {"message_status": "sent"}}
        assert requests.post(listener.url, json={"rows": [row]}, headers=forged, timeout=5).status_code == 401
        assert not any("FAKE" in line for line in printed), printed
        signed = {**signed, "X-CALLBACK-ID": callback_id("otp-mock-listen", "s")}
        assert requests.post(listener.url, json={"rows": [row]}, headers=signed, timeout=5).status_code == 200
        line = next(line for line in printed if "FAKE" in line)
        assert "\n" not in line and "\x1b" not in line and "\\n" in line, line
        with socket.create_connection(("127.0.0.1", int(listener.url.rsplit(":", 1)[1].strip("/"))), 5) as conn:
            conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"rows\"")
            conn.settimeout(3)
            started = time.monotonic()
            assert conn.recv(100) == b""  # closed by the listener at its read timeout, not held
            assert time.monotonic() - started < 2.5
    finally:
        stop.set()
        thread.join(5)


@pytest.mark.served
def test_listen_keeps_a_configuration_already_there() -> None:
    """Finding 8: registering over someone's configuration is refused without --replace; with it,
    the listener's own is removed on exit only if it is still the one there."""
    import requests

    from mockserver.callbacks.listen import Listener, ListenError
    from test_served import start, stop

    process, base = start("--set", "callback_targets=loopback")
    try:
        with receiver() as (_, url):
            assert requests.put(f"{base}/_mock/callbacks", json={"url": url, "probe": False}, timeout=5).ok
            listener = Listener(base, None, out=lambda line: None)
            try:
                with pytest.raises(ListenError, match="--replace"):
                    listener.register()
                assert requests.get(f"{base}/_mock/callbacks", timeout=5).json()["url"] == url  # kept
                listener.replace = True
                listener.register()
                assert requests.get(f"{base}/_mock/callbacks", timeout=5).json()["url"] == listener.url
                assert requests.put(f"{base}/_mock/callbacks", json={"url": url, "probe": False}, timeout=5).ok
                assert listener.unregister() is False  # someone else's now: it stays
                assert requests.get(f"{base}/_mock/callbacks", timeout=5).json()["url"] == url
            finally:
                listener.server.server_close()
    finally:
        code, _, err = stop(process)
        assert code == 0, err


def test_secrets_in_a_body_that_is_not_json_never_reach_the_journal() -> None:
    """Finding 9: a control-plane body with a typo keeps its text in the journal, with the value
    of every secret-named field masked (and a JSON name spelled with \\u escapes too)."""
    mock = OtpMock(FAST)
    try:
        bodies = [b'{"url": "http://127.0.0.1:1/", "username": "u", "secret": "hook-s3cret-1",}',
                  b'{"url": "x", "authorization": "Bearer tok-s3cret-2", "password":\'pw-s3cret-3\' oops',
                  b'{"url": "http://127.0.0.1:1/", "username": "u", "sec\\u0072et": "hook-s3cret-4"}']
        for body in bodies:
            assert mock.handle("PUT", "/_mock/callbacks", JSON, body).status == 400
        reply = mock.handle("GET", "/_mock/requests", JSON, b"", query="plane=control&limit=20")
        assert reply.status == 200
        kept = json.dumps(reply.body)
        assert "callbacks" in kept and "url" in kept  # the bodies are there, to debug the typo
        for leaked in ("hook-s3cret-1", "tok-s3cret-2", "pw-s3cret-3", "hook-s3cret-4"):
            assert leaked not in kept, (leaked, kept)
    finally:
        mock.close()


def test_one_keys_triggers_never_push_out_another_keys_pending_deliveries(tmp_path: Any) -> None:
    """Finding 10: a log full of pending deliveries drops the adding key's own oldest, never
    another key's; a trigger not kept is a 409."""
    mock = _keyed_mock(tmp_path, max_deliveries=3, callback_retry_seconds="60")
    as_a, as_b = _as("team-a", "pw-a"), _as("team-b", "pw-b")
    try:
        token = {"Authorization": "Bearer tok", **JSON}  # everyone's configuration: a and b share it
        assert mock.handle("PUT", "/_mock/callbacks", token,
                           json.dumps({"url": "http://127.0.0.1:9999/", "probe": False}).encode()).status == 200
        mock.close()  # no sender: every delivery stays pending
        trigger = b'{"event": "account_login"}'
        theirs = [mock.handle("POST", "/_mock/callbacks/trigger", as_b, trigger).body["id"] for _ in range(3)]
        refused = mock.handle("POST", "/_mock/callbacks/trigger", as_a, trigger)
        assert refused.status == 409 and "full" in refused.body["message"], refused.body  # no pending of its own
        assert {d["id"] for d in mock.control.deliveries()} == set(theirs)  # b's stay
        again = mock.handle("POST", "/_mock/callbacks/trigger", as_b, trigger)
        assert again.status == 200  # b's own oldest makes room
        assert {d["id"] for d in mock.control.deliveries()} == {*theirs[1:], again.body["id"]}
    finally:
        mock.close()


def test_an_authorization_shows_its_scheme_only_when_it_is_a_known_one() -> None:
    """Finding 11: `Bearer ***` / `Basic ***` / `Token ***`, but an unknown first word (which may
    be the secret itself) is masked with the rest, in the log, the configuration and the journal."""
    from mockserver.callbacks.config import CallbackConfig
    from mockserver.callbacks.service import _shown_headers
    from mockserver.journal import mask_headers

    cases = {"Bearer tok-1": "Bearer ***", "basic dTpw": "basic ***", "Token abc": "Token ***",
             "s3cretword rest": "***", "s3cretword": "***", "ApiKey k1 k2": "***"}
    for value, masked in cases.items():
        assert _shown_headers({"Authorization": value})["Authorization"] == masked, value
        assert CallbackConfig("http://127.0.0.1:1/", authorization=value).view()["authorization"] == masked
        assert mask_headers({"Authorization": value})["Authorization"] == masked
