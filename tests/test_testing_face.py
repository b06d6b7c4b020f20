"""mockserver.testing: the helpers, the adapters (requests, httpx, the served mock) and their
parity: the same requests get the same answers in-process and over real HTTP."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests

from mockserver.testing import (
    API_VERSION,
    Call,
    MessageNotFound,
    NetworkBlocked,
    OtpClock,
    OtpMocker,
    ServedKey,
    no_network,
    otp_mock,
    serve_in_thread,
)

BASE = "https://otp.api.engagelab.cc"
AUTH = ("team-a", "s3cret")
PHONE = "+6591234567"
SEND = {"to": PHONE, "template": {"id": "test-template-1"}}


def send(to: str = PHONE, template: str = "test-template-1", **kwargs: Any) -> requests.Response:
    return requests.post(f"{BASE}/v1/messages", json={"to": to, "template": {"id": template}}, auth=AUTH,
                         timeout=5, **kwargs)


def verify(message_id: str, code: str) -> requests.Response:
    return requests.post(f"{BASE}/v1/verifications", json={"message_id": message_id, "verify_code": code},
                         auth=AUTH, timeout=5)


# -- the helpers ---------------------------------------------------------------------------------
def test_the_surface_is_versioned() -> None:
    import mockserver.testing as testing

    assert API_VERSION == 1
    assert testing.__all__ == [
        "API_VERSION", "DEFAULT_BASE_URL", "Call", "Helpers", "MessageNotFound", "NetworkBlocked", "OtpClock",
        "OtpMocker", "SentMessage", "ServedKey", "ServedMock", "no_network", "otp_mock", "serve_in_thread",
    ]
    assert [f for f in Call.__dataclass_fields__] == [
        "method", "url", "path", "query", "operation", "dev_key", "status", "request_body", "reply_body",
        "delay", "fault", "headers", "at"]


def test_calls_record_what_the_client_sent_and_got(otp_mock: OtpMocker) -> None:
    sent = send().json()
    requests.get(f"{BASE}/v1/template-configs/nope", auth=AUTH, params={"x": "1"}, timeout=5)
    first, second = otp_mock.calls
    assert (first.method, first.url, first.operation, first.dev_key, first.status) == (
        "POST", f"{BASE}/v1/messages", "send_otp", "team-a", 200)
    assert first.request_json() == SEND and first.reply_json() == sent and first.code is None
    assert first.headers["authorization"] == "Basic ***"  # never the credentials
    assert (second.path, second.query, second.operation, second.status, second.code) == (
        "/v1/template-configs/nope", "x=1", "get_template", 400, 4001)


def test_latest_code_and_messages(otp_mock: OtpMocker) -> None:
    send()
    send("+6598765432", "sms-default")
    assert otp_mock.latest("+6598765432").channel == "sms"
    assert otp_mock.latest_code(PHONE) == otp_mock.messages(PHONE)[0].code
    assert [m.to for m in otp_mock.messages()] == ["+6598765432", PHONE]
    assert otp_mock.messages(template_id="sms-default", dev_key="team-a")[0].to == "+6598765432"
    assert otp_mock.messages(dev_key="someone-else") == []
    with pytest.raises(MessageNotFound, match=r"no message to '\+6500000000' was sent; recipients so far: "
                                              r"\+6591234567, \+6598765432"):
        otp_mock.latest_code("+6500000000")


def test_fail_next_answers_the_next_request_that_can_fail_so(otp_mock: OtpMocker) -> None:
    otp_mock.fail_next(3003, operation="verify_otp")
    first = send().json()  # not a verification: served realistically
    code = otp_mock.latest_code(PHONE)
    assert verify(first["message_id"], code).json()["code"] == 3003
    assert verify(first["message_id"], code).json()["verified"] is True  # once only


def test_fail_next_waits_for_a_request_that_reaches_the_operation(otp_mock: OtpMocker) -> None:
    otp_mock.fail_next(5013, times=2)
    assert requests.post(f"{BASE}/v1/messages", json={"to": PHONE}, auth=AUTH, timeout=5).json()["code"] == 3002
    assert [send(f"+659123456{n}").json()["code"] for n in range(2)] == [5013, 5013]
    assert send("+6591234569").status_code == 200


@pytest.mark.parametrize(("args", "kwargs", "message"), [
    ((4242,), {}, r"fail_next\(4242\): not an error code of the API \(documented: 1000, 2001"),
    ((3004,), {"operation": "verify_otp"}, r"verify_otp never answers 3004; its documented errors: 1000, 2001"),
    ((1000,), {"operation": "send"}, r"no such operation; use send_otp"),
    (("reset",), {}, r"not a fault; use one of connection_reset, empty_reply, hang, incomplete_body"),
    ((1000,), {"times": 0}, r"expected a whole number >= 1"),
])
def test_fail_next_refuses_what_the_api_cannot_do(otp_mock: OtpMocker, args: tuple[Any, ...],
                                                  kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        otp_mock.fail_next(*args, **kwargs)


def test_set_changes_settings_and_keeps_the_state(otp_mock: OtpMocker) -> None:
    before = send(PHONE).json()["message_id"]
    otp_mock.set(max_verify_attempts=1)
    message_id = send("+12025550199").json()["message_id"]  # its code is always 123456
    assert verify(message_id, "000000").json()["verified"] is False
    assert verify(message_id, "123456").json()["code"] == 3003  # used up after one wrong attempt
    assert otp_mock.latest(PHONE).max_attempts == 5  # a message keeps the rule it was sent with
    assert verify(before, otp_mock.latest_code(PHONE)).json()["verified"] is True
    assert send(PHONE).status_code == 200 and otp_mock.calls[0].operation == "send_otp"
    with pytest.raises(ValueError, match=r"set\(max_events=\.\.\.\): the store was opened with it"):
        otp_mock.set(max_events=10)
    with pytest.raises(Exception, match="did you mean 'max_verify_attempts'"):
        otp_mock.set(max_verify_attempt=3)


def test_reset_forgets_messages_calls_and_clock(otp_mock: OtpMocker) -> None:
    send()
    otp_mock.advance_clock(minutes=1)
    otp_mock.fail_next(1000)
    otp_mock.reset()
    assert (otp_mock.messages(), otp_mock.calls, otp_mock.mock.control.clock().offset_seconds) == ([], [], 0.0)
    assert send().status_code == 200  # no 3004, no pending 1000


def test_use_scenario_for_everyone_or_one_key(otp_mock: OtpMocker) -> None:
    otp_mock.use_scenario("outage", dev_key="other-team")
    assert send().status_code == 200
    otp_mock.use_scenario("outage")
    assert send("+6590000001").json()["code"] == 1000
    otp_mock.use_scenario(None)
    assert send("+6590000002").status_code == 200


def test_otp_clock_is_frozen_and_moves_when_told(otp_mock: OtpMocker, otp_clock: OtpClock) -> None:
    started = otp_clock.now()
    time.sleep(0.01)
    assert otp_clock.now() == started and otp_clock.frozen
    send()
    assert otp_clock.advance(seconds=30, minutes=5) == started + 330
    assert otp_mock.latest(PHONE).status == "verified_timeout"


@pytest.mark.otp_mock(seed=7)
def test_a_seeded_mock_replays_its_codes(otp_mock: OtpMocker) -> None:
    send()
    with otp_mock.fresh() as again:
        send()
        assert again.latest_code(PHONE) == "339563"
    assert otp_mock.latest_code(PHONE) == "339563"


def test_the_decorator_gives_each_call_a_fresh_mock() -> None:
    codes = []

    @otp_mock(seed=5, kw="otp")
    def story(otp: OtpMocker) -> None:
        assert send().status_code == 200  # never a 3004: a fresh mock each time
        codes.append(otp.latest_code(PHONE))

    story()
    story()
    assert codes[0] == codes[1] and len(codes) == 2


@otp_mock(kw="otp")
def test_a_decorated_test_gets_the_mock_as_an_argument(otp: OtpMocker) -> None:
    assert send().status_code == 200 and otp.calls[-1].operation == "send_otp"


# -- what is answered, refused, passed through ---------------------------------------------------
def test_other_urls_are_refused_with_what_to_do(otp_mock: OtpMocker) -> None:
    with pytest.raises(requests.ConnectionError, match=r"otp_mock refused GET https://example.com/: the mock "
                                                       r"answers https://otp.api.engagelab.cc only.*passthrough"):
        requests.get("https://example.com/", timeout=5)
    with pytest.raises(httpx.ConnectError, match="otp_mock refused GET https://example.com/"):
        httpx.get("https://example.com/")


def test_stubs_of_other_apis_go_on_the_responses_mock(otp_mock: OtpMocker) -> None:
    otp_mock.responses.get("https://crm.example.com/users/7", json={"phone": PHONE})
    phone = requests.get("https://crm.example.com/users/7", timeout=5).json()["phone"]
    assert send(phone).status_code == 200 and otp_mock.latest(phone)


def test_passthrough_lets_other_urls_reach_the_network() -> None:
    with serve_in_thread() as other, otp_mock(passthrough=True) as otp:
        assert requests.get(f"{other.base_url}/_mock/health", timeout=5).status_code == 200
        assert httpx.get(f"{other.base_url}/_mock/health").status_code == 200
        assert send().status_code == 200 and len(otp.calls) == 1 and len(other.calls) == 2


def test_more_base_urls_are_answered_too() -> None:
    with otp_mock(base_urls=("http://otp.internal:8080/",)) as otp:
        answered = requests.post("http://otp.internal:8080/v1/messages", json=SEND, auth=AUTH, timeout=5)
        assert answered.status_code == 200 and otp.calls[0].url == "http://otp.internal:8080/v1/messages"


def test_an_unstarted_mock_says_how_to_start_it() -> None:
    with pytest.raises(RuntimeError, match="use `with otp_mock\\(\\) as otp:` or the otp_mock fixture"):
        otp_mock().latest_code(PHONE)


# -- delays and faults ---------------------------------------------------------------------------
@pytest.fixture
def slow_scenarios(tmp_path: Path) -> str:
    (tmp_path / "slow.yaml").write_text("name: slow\ndescription: late\nrules:\n  - operation: send_otp\n"
                                        "    delay: 0.2\n", encoding="utf-8")
    return str(tmp_path)


def test_delays_are_slept_only_when_asked(slow_scenarios: str) -> None:
    for sleep, least in ((False, 0.0), (True, 0.2)):
        with otp_mock(scenarios_dir=slow_scenarios, scenario="slow", sleep_delays=sleep) as otp:
            started = time.perf_counter()
            assert send().status_code == 200
            took = time.perf_counter() - started
            assert otp.calls[-1].delay == 0.2 and least <= took < least + 0.15, took


def test_a_hang_without_a_client_timeout_ends_as_the_served_mock_ends_it(otp_mock: OtpMocker) -> None:
    otp_mock.fail_next("hang")
    with pytest.raises(requests.ConnectionError, match="drops the connection after hang_seconds"):
        requests.post(f"{BASE}/v1/messages", json=SEND, auth=AUTH)  # noqa: S113 - that is the point
    otp_mock.fail_next("hang")
    with pytest.raises(requests.ReadTimeout):
        send()


def test_faults_need_the_shipped_faults_scenario(tmp_path: Path) -> None:
    with otp_mock(scenarios_dir=str(tmp_path)) as otp, pytest.raises(ValueError, match="copy scenarios/faults"):
        otp.fail_next("empty_reply")


# -- no network ----------------------------------------------------------------------------------
def test_no_network_refuses_connections_and_lookups() -> None:
    with no_network():
        with pytest.raises(NetworkBlocked, match="connection to 192.0.2.1:80 refused"):
            socket.create_connection(("192.0.2.1", 80), timeout=1)
        with pytest.raises(NetworkBlocked, match="name lookup of 'example.com' refused"):
            socket.getaddrinfo("example.com", 443)
        with serve_in_thread() as served:  # a served mock of this process stays reachable
            with urllib.request.urlopen(f"{served.base_url}/_mock/health", timeout=5) as answer:
                assert answer.status == 200
    socket.getaddrinfo("localhost", 80)  # restored


# -- the served mock and its keys ----------------------------------------------------------------
def test_keys_of_one_served_mock_never_see_each_other() -> None:
    with serve_in_thread(seed=3) as served:
        first, second = served.new_key(), served.new_key()
        assert first.dev_key != second.dev_key
        for key in (first, second):
            answered = requests.post(f"{key.base_url}/v1/messages", json=SEND, auth=key.auth, timeout=5)
            assert answered.status_code == 200  # the same recipient, no 3004
        first.use_scenario("outage")
        first.advance_clock(minutes=6)
        assert requests.post(f"{first.base_url}/v1/messages", json=SEND, auth=first.auth,
                             timeout=5).json()["code"] == 1000
        assert second.latest(PHONE).status == "delivered" and first.latest(PHONE).status == "verified_timeout"
        assert [c.status for c in first.calls] == [200, 500] and [c.status for c in second.calls] == [200]
        assert len(served.calls) == 3
        with pytest.raises(RuntimeError, match="shares its mock with other tests"):
            first.set(seed=1)
        first.close()
        assert first.messages() == [] and first.calls == [] and len(second.messages()) == 1
        assert served.mock.control.active_scenarios()["keys"].get(first.dev_key) is None


def test_otp_mock_server_gives_each_test_its_own_key(otp_mock_server: ServedKey) -> None:
    header = "Basic " + base64.b64encode(f"{otp_mock_server.dev_key}:{otp_mock_server.dev_secret}".encode()).decode()
    assert otp_mock_server.authorization == header
    assert re.fullmatch(r"test-(gw\d+|p\d+)-\d+-[0-9a-f]{6}", otp_mock_server.dev_key)
    body = json.dumps(SEND).encode()
    request = urllib.request.Request(f"{otp_mock_server.base_url}/v1/messages", data=body, method="POST",
                                     headers={"Authorization": header, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read())["send_channel"] == "whatsapp"
    assert otp_mock_server.calls[0].url == f"{otp_mock_server.base_url}/v1/messages"


# -- parity: the same requests, the same answers, in-process and over HTTP -----------------------
Step = tuple[str, str, dict[str, str], bytes]
HEADERS = {"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(b"team-a:pw").decode()}


def story() -> list[Step | Callable[[Any], Step | None]]:
    """A session of requests covering every outcome; callables read the mock in between."""
    def post(path: str, body: Any, headers: dict[str, str] = HEADERS) -> Step:
        return ("POST", path, headers, body if isinstance(body, bytes) else json.dumps(body).encode())

    def verify_latest(code: str | None) -> Callable[[Any], Step]:
        def step(helpers: Any) -> Step:
            latest = helpers.latest(PHONE)
            return post("/v1/verifications", {"message_id": latest.message_id, "verify_code": code or latest.code})
        return step

    def act(action: Callable[[Any], None]) -> Callable[[Any], None]:
        def step(helpers: Any) -> None:
            action(helpers)
        return step

    template = {"template_id": "parity-1", "template_name": "Parity", "description": "parity",
                "send_channel_strategy": "sms", "sms_config": {"template_type": 1, "template_default_config": {
                    "contain_security": False, "contain_expire": False, "verify_code_config": {
                        "verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5}}}}
    return [
        post("/v1/messages", SEND), verify_latest("000000"), verify_latest(None), verify_latest(None),
        post("/v1/messages", SEND), post("/v1/messages", SEND),  # 3004
        act(lambda h: h.advance_clock(minutes=6)), verify_latest(None),  # expired
        post("/v1/messages", {"to": PHONE, "template": {"id": "nope"}}),  # 4001
        post("/v1/messages", {"to": PHONE}), post("/v1/messages", b"{not json"),  # 3002, 3001
        post("/v1/messages", SEND, {"Content-Type": "application/json"}),  # 2001
        post("/v1/messages", {"to": "+12025550100", "template": {"id": "test-template-1"}}),  # magic 1000
        post("/v1/codes", {"to": "+6590001111", "code": "4321", "template": {"id": "sms-default"}}),
        post("/v1/custom-messages", {"to": ["+6590002222", "+6590003333"], "template": {"id": "sms-default"},
                                     "params": {"code": "9876"}}),
        post("/v1/template-configs", template), ("GET", "/v1/template-configs/parity-1", HEADERS, b""),
        ("GET", "/v1/template-configs", HEADERS, b""), ("DELETE", "/v1/template-configs/parity-1", HEADERS, b""),
        ("GET", "/v1/nowhere", HEADERS, b""), ("PUT", "/v1/messages", HEADERS, b""),  # 404, 405
        ("OPTIONS", "/v1/messages", {}, b""), ("HEAD", "/v1/template-configs", HEADERS, b""),
        post("/v1/messages", b"x" * 2_000_000),  # larger than max_body_bytes
        act(lambda h: h.fail_next(1000)),
        post("/v1/messages", {"to": "+6590004444", "template": {"id": "sms-default"}}),
        act(lambda h: h.use_scenario("outage")), ("GET", "/v1/template-configs", HEADERS, b""),
        act(lambda h: h.use_scenario(None)), act(lambda h: h.fail_next("truncated_json")),
        ("GET", "/v1/template-configs", HEADERS, b""),
    ]


IDS = re.compile(rb'"(message_id|verify_code|code)":"\d+"|"(created_time)":\d+')


def normal(status: int, headers: dict[str, str], body: bytes) -> tuple[int, str | None, bytes]:
    """An answer without what differs by nature (ids, codes, dates)."""
    return status, headers.get("allow"), IDS.sub(lambda m: b'"' + (m.group(1) or m.group(2)) + b'":"#"', body)


def replay(helpers: Any, send_one: Callable[[Step], tuple[int, dict[str, str], bytes]]) -> list[Any]:
    answers = []
    for step in story():
        request = step(helpers) if callable(step) else step
        if request is not None:
            answers.append(normal(*send_one(request)))
    return answers


def by_requests(base: str) -> Callable[[Step], tuple[int, dict[str, str], bytes]]:
    def send_one(step: Step) -> tuple[int, dict[str, str], bytes]:
        method, path, headers, body = step
        answer = requests.request(method, base + path, headers=headers, data=body, timeout=5)
        return answer.status_code, {k.lower(): v for k, v in answer.headers.items()}, answer.content
    return send_one


def by_httpx(client: httpx.Client) -> Callable[[Step], tuple[int, dict[str, str], bytes]]:
    def send_one(step: Step) -> tuple[int, dict[str, str], bytes]:
        method, path, headers, body = step
        answer = client.request(method, BASE + path, headers=headers, content=body)
        return answer.status_code, dict(answer.headers), answer.content
    return send_one


def by_urllib(base: str) -> Callable[[Step], tuple[int, dict[str, str], bytes]]:
    def send_one(step: Step) -> tuple[int, dict[str, str], bytes]:
        method, path, headers, body = step
        request = urllib.request.Request(base + path, data=body or None, headers=headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()
        except urllib.error.HTTPError as error:
            with error:
                return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
    return send_one


@pytest.fixture(scope="module")
def reference() -> list[Any]:
    """The story told in-process through requests: what every other way must match."""
    with otp_mock(seed=9) as otp:
        return replay(otp, by_requests(BASE))


def test_the_story_covers_every_kind_of_answer(reference: list[Any]) -> None:
    statuses = [status for status, _, _ in reference]
    assert {200, 400, 401, 404, 405, 500} <= set(statuses)
    codes = {json.loads(body).get("code") for _, _, body in reference if body.startswith(b"{\"code\"")}
    assert {1000, 2001, 3001, 3002, 3003, 3004, 4001} <= codes
    with pytest.raises(ValueError):  # the last answer is cut short (truncated_json)
        json.loads(reference[-1][2])


def test_the_served_mock_answers_as_the_in_process_one(reference: list[Any]) -> None:
    with otp_mock(seed=9, target="server") as otp:
        assert otp.served_url is not None and replay(otp, by_requests(BASE)) == reference
    with serve_in_thread(seed=9) as served:
        assert replay(served, by_urllib(served.base_url)) == reference


def test_httpx_gets_the_same_answers_in_process_and_over_http(reference: list[Any]) -> None:
    for target in ("inprocess", "server"):
        with otp_mock(seed=9, target=target) as otp, httpx.Client(transport=otp.httpx_transport()) as client:
            assert replay(otp, by_httpx(client)) == reference, target


def test_async_httpx_gets_the_same_answers(reference: list[Any]) -> None:
    async def tell(otp: OtpMocker) -> list[Any]:
        answers = []
        async with httpx.AsyncClient() as client:  # no transport: the default one is intercepted
            for step in story():
                request = step(otp) if callable(step) else step
                if request is not None:
                    method, path, headers, body = request
                    answer = await client.request(method, BASE + path, headers=headers, content=body)
                    answers.append(normal(answer.status_code, dict(answer.headers), answer.content))
        return answers

    for target in ("inprocess", "server"):
        with otp_mock(seed=9, target=target) as otp:
            assert asyncio.run(tell(otp)) == reference, target


@pytest.fixture
def no_leftover_servers() -> Iterator[None]:
    from mockserver.testing import _wire

    before = set(_wire.LIVE_PORTS)
    yield
    assert set(_wire.LIVE_PORTS) == before


def test_a_server_target_mock_frees_its_port(no_leftover_servers: None) -> None:
    with otp_mock(target="server") as otp:
        port = int((otp.served_url or "").rsplit(":", 1)[1])
        assert send().status_code == 200
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=1).close()


def test_requests_without_responses_is_refused_not_let_through(monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.testing import _mocker

    monkeypatch.setattr(_mocker, "_installed", lambda name: name != "responses")
    with pytest.raises(RuntimeError, match=r"responses is not, so requests calls would reach the network: "
                                           r"pip install 'otp-mock-kit\[testing\]'"):
        otp_mock().start()


def test_a_streamed_request_body_is_read_whole(otp_mock: OtpMocker) -> None:
    chunks = (part for part in (b'{"to": "+6591234567", ', b'"template": {"id": "sms-default"}}'))
    answered = requests.post(f"{BASE}/v1/messages", data=chunks, auth=AUTH, timeout=5,
                             headers={"Content-Type": "application/json"})
    assert answered.status_code == 200 and otp_mock.calls[0].request_json()["to"] == PHONE
