"""What a hostile black-box probe found, reproduced in-process: hostile numbers, amplification,
unbounded state, files and settings that crashed. Each answer is now in the API's envelope, with
the documented code, and nothing already stored is lost."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import PHONE, Client, basic
from test_api import SMS_TEMPLATE, assert_error

ROOT = Path(__file__).resolve().parent.parent


def run_check(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """`otp-mock check` in a subprocess, bounded (a FIFO once hung it for ever)."""
    return subprocess.run([sys.executable, "-m", "mockserver", "check", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


# -- hostile numbers --------------------------------------------------------------------------

def test_a_template_with_a_float_integer_is_stored_as_an_int(client: Client) -> None:
    body = {**SMS_TEMPLATE, "template_id": "floaty",
            "verify_code_config": {"verify_code_type": 1, "verify_code_len": 6.0, "verify_code_ttl": 5.0}}
    assert client.post("/v1/template-configs", json=body).get_json() == {"code": 0, "message": "success"}
    stored = client.get("/v1/template-configs/floaty").get_json()
    assert stored["verify_code_config"] == {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5}
    assert isinstance(stored["verify_code_config"]["verify_code_len"], int)
    message_id = client.send(template="floaty").get_json()["message_id"]  # every send 500'd before
    assert len(client.code_of(message_id)) == 6


def test_a_review_status_of_2_0_is_stored_as_2(client: Client) -> None:
    client.post("/v1/template-configs", json={**SMS_TEMPLATE, "template_id": "reviewed"})
    reply = client.post("/_mock/templates/reviewed/review", key=None,
                        data='{"dev_key": "team-a", "status": 2.0}', content_type="application/json")
    assert reply.get_json()["status"] == 2 and isinstance(reply.get_json()["status"], int)


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), [
    ("POST", "/_mock/clock", {"data": '{"advance_seconds": ' + "9" * 400 + "}"}, 400, 400),
    ("POST", "/_mock/clock", {"data": '{"advance_seconds": 1e308}'}, 400, 400),
    ("GET", "/_mock/messages?limit=" + "9" * 5000, {}, 400, 400),
    ("GET", "/_mock/requests?limit=" + "9" * 5000, {}, 400, 400),
    ("GET", "/_mock/events?after=" + "9" * 5000, {}, 400, 400),
], ids=["advance-400-digits", "advance-1e308", "limit-5000-digits", "journal-limit", "events-after"])
def test_huge_numbers_on_the_control_plane_are_400s(client: Client, method: str, path: str, kwargs: Any,
                                                    status: int, code: int) -> None:
    reply = client.call(method, path, key=None, content_type="application/json", **kwargs)
    assert reply.status_code == status and reply.get_json()["code"] == code, reply.get_json()


def test_a_prefer_code_of_5000_digits_is_a_3002(client: Client) -> None:
    reply = client.post("/v1/messages", json={"to": PHONE, "template": {"id": "test-template-1"}},
                        headers={**basic(), "Prefer": "code=" + "1" * 5000})
    assert_error(reply, 400, 3002, "more than 9 digits")


# -- amplification and unbounded state ----------------------------------------------------------

def test_a_custom_message_to_too_many_recipients_is_refused_whole(client: Client) -> None:
    body = {"to": [f"+659{n:07d}" for n in range(101)], "template": {"id": "notification-template"}}
    assert_error(client.post("/v1/custom-messages", json=body), 400, 3002, "max_recipients")
    assert client.get("/_mock/messages", key=None).get_json()["messages"] == []


def test_a_message_over_max_message_bytes_is_refused(client: Client) -> None:
    body = {"to": PHONE, "template": {"id": "notification-template", "params": {"name": "x" * 20_000}}}
    assert_error(client.post("/v1/custom-messages", json=body), 400, 3002, "max_message_bytes")
    assert client.get("/_mock/messages", key=None).get_json()["messages"] == []


def test_a_template_that_repeats_a_long_param_is_refused_before_its_text_is_built(client: Client) -> None:
    from mockserver.otp.render import TooLong, render

    with pytest.raises(TooLong):
        render("{{p}}" * 1000, {"p": "x" * 10_000}, limit=16_384)  # stops near 16 KB, not at 10 MB
    config = {"template_type": 2, "template_custom_config": {"custom_sub_type": "marketing",
                                                            "custom_content": "{{p}}" * 200}}
    client.post("/v1/template-configs", json={**SMS_TEMPLATE, "template_id": "echo", "sms_config": config})
    client.post("/_mock/templates/echo/review", key=None, json={"dev_key": "team-a", "status": 2})
    body = {"to": PHONE, "template": {"id": "echo", "params": {"p": "y" * 5_000}}}
    assert_error(client.post("/v1/custom-messages", json=body), 400, 3002, "max_message_bytes")
    body["template"]["params"]["p"] = "short"
    assert client.post("/v1/custom-messages", json=body).status_code == 200


@pytest.mark.parametrize("store", ["memory", "sqlite", "redis"])
def test_a_keys_stored_bytes_are_bounded_on_every_store(store: str, make_client: Any, tmp_path: Path,
                                                        request: pytest.FixtureRequest) -> None:
    url = {"memory": "memory", "sqlite": f"sqlite:{tmp_path / 'state.db'}"}.get(store)
    if store == "redis":
        import redis

        url = request.getfixturevalue("redis_url")
        redis.Redis.from_url(url).flushdb()
    client = make_client(store=url, max_key_bytes=1500)
    sent = [client.send(to=f"+6591230{n:03d}", template="sms-default").status_code for n in range(30)]
    assert 200 in sent and sent[-1] == 400
    full = client.send(to="+6591239999", template="sms-default")
    assert_error(full, 400, 3002, "max_key_bytes")
    kept = len(client.get("/_mock/messages?dev_key=team-a", key=None).get_json()["messages"])
    assert kept == sent.count(200)  # nothing of the refused sends was stored
    assert client.send(to="+6591239999", template="sms-default", key="team-b").status_code == 200  # per key
    client.post("/_mock/reset", json={"dev_key": "team-a"}, key=None)
    assert client.send(to="+6591239999", template="sms-default").status_code == 200  # room again


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from redis_server import redis_server

    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.mark.parametrize("settings", [{"max_templates": 9}])  # the 8 starting templates and one more
def test_templates_per_key_are_bounded(client: Client) -> None:
    assert client.post("/v1/template-configs", json={**SMS_TEMPLATE, "template_id": "ninth"}).status_code == 200
    assert_error(client.post("/v1/template-configs", json={**SMS_TEMPLATE, "template_id": "tenth"}),
                 400, 3002, "max_templates")
    assert client.delete("/v1/template-configs/ninth").status_code == 200
    assert client.post("/v1/template-configs", json={**SMS_TEMPLATE, "template_id": "tenth"}).status_code == 200


def test_a_template_id_with_a_slash_is_refused(client: Client) -> None:
    assert_error(client.post("/v1/template-configs", json={**SMS_TEMPLATE, "template_id": "a/b"}),
                 400, 3002, "could never be read or deleted")


@pytest.mark.parametrize("settings", [{"max_scenario_keys": 2}])
def test_scenario_choices_per_key_are_bounded_and_a_reset_clears_its_own(client: Client) -> None:
    def choose(key: str, name: str | None = "outage") -> Any:
        return client.call("PUT", "/_mock/scenario", key=None, json={"name": name, "dev_key": key})

    assert choose("a").status_code == 200 and choose("b").status_code == 200
    refused = choose("c")
    assert refused.status_code == 400 and "max_scenario_keys" in refused.get_json()["message"]
    assert choose("a", "flaky").status_code == 200  # a key that has one may change it
    client.post("/_mock/reset", json={"dev_key": "a"}, key=None)
    assert client.get("/_mock/scenario", key=None).get_json()["keys"] == {"b": "outage"}
    assert choose("c").status_code == 200


# -- dev_keys that break logs and stores --------------------------------------------------------

@pytest.mark.parametrize("dev_key", ["team\na", "team\x00a", "k" * 200, "a\x1b[31mred"])
def test_a_dev_key_with_control_characters_or_too_long_is_a_2001(client: Client, dev_key: str) -> None:
    token = base64.b64encode(f"{dev_key}:pw".encode()).decode()
    reply = client.post("/v1/messages", json={"to": PHONE, "template": {"id": "test-template-1"}},
                        headers={"Authorization": f"Basic {token}"})
    assert_error(reply, 401, 2001, "dev_key")
    assert dev_key not in reply.get_data(as_text=True)


def test_log_lines_escape_control_characters_and_cut_long_values() -> None:
    import io

    from mockserver.accesslog import AccessLog
    from mockserver.journal import Exchange

    out = io.StringIO()
    log = AccessLog(stream=out)
    log.exchange(Exchange("GET", "/v1/x\nFAKE 200 OK " + "y" * 500, "token=s3cr3t&a=1", {}, b"", 404, {}, b"", 0.0,
                          0.0, 1.0, tenant="k\r\nforged"))
    log.flush()
    line = out.getvalue()
    assert line.count("\n") == 1 and "\\n" in line and "\\r\\n" in line
    assert "characters)" in line and len(line) < 600 and "s3cr3t" not in line

    out = io.StringIO()
    log = AccessLog(stream=out)
    log.exchange(Exchange("GET", "/_mock/messages", "token=s3cr3t&a=1", {}, b"", 200, {}, b"", 0.0, 0.0, 1.0))
    log.flush()
    assert "s3cr3t" not in out.getvalue() and "a=1" in out.getvalue() and "token=" in out.getvalue()


# -- scenario files and settings that passed check and then crashed --------------------------------

SCENARIO_HEAD = "name: {name}\ndescription: x\nrules:\n"


@pytest.mark.parametrize(("body", "message"), [
    ("  - operation: send_otp\n    reply: {pass: {ttl_seconds: .inf}}\n", "not a finite number"),
    ("  - operation: send_otp\n    reply: {pass: {ttl_seconds: .nan}}\n", "not a finite number"),
    ("  - operation: send_otp\n    delay: .inf\n", "not a finite number"),
    ("  - operation: verify_otp\n    reply: {status: 200, headers: {X-A: \"caf\\u00e9\\u20ac\"},"
     " body: {message_id: \"1\", verify_code: \"1\", verified: true}}\n", "latin-1"),
    ("  - operation: verify_otp\n    reply: {status: 200, headers: {X-A: \"a\\u0000b\"},"
     " body: {message_id: \"1\", verify_code: \"1\", verified: true}}\n", "control character"),
    ("  - operation: send_otp\n    when: {to_pattern: 'a(?=b)'}\n    reply: {error: 1000}\n", "RE2"),
], ids=["ttl-inf", "ttl-nan", "delay-inf", "header-not-latin1", "header-nul", "lookahead"])
def test_check_refuses_scenario_files_that_would_crash(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "bad.yaml").write_text(SCENARIO_HEAD.format(name="bad") + body, encoding="utf-8")
    result = run_check("--scenarios-dir", str(tmp_path))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_state_of_nan_seconds_is_refused(tmp_path: Path) -> None:
    (tmp_path / "states.yaml").write_text(
        "name: states\ndescription: x\nstates:\n  a: {duration_seconds: .nan, then: start}\nrules:\n"
        "  - operation: send_otp\n    reply: {error: 1000}\n", encoding="utf-8")
    result = run_check("--scenarios-dir", str(tmp_path))
    assert result.returncode == 2 and "not a finite number" in result.stderr, result.stderr


def test_a_backtracking_pattern_runs_in_linear_time(make_client: Any, tmp_path: Path) -> None:
    (tmp_path / "pattern.yaml").write_text(SCENARIO_HEAD.format(name="pattern")
                                           + "  - operation: send_otp\n    when: {to_pattern: '^(\\+?[0-9]+)+$'}\n"
                                             "    reply: {error: 5013}\n", encoding="utf-8")
    client = make_client(scenarios_dir=str(tmp_path), scenario="pattern")
    # 6.7 s at 28 characters with Python's re, doubling with each one more; RE2 does not care.
    reply = client.post("/v1/messages", json={"to": "+" + "1" * 40 + "x", "template": {"id": "test-template-1"}})
    assert_error(reply, 400, 5011, "invalid phone number")  # no match: the realistic 5011
    assert_error(client.send(to="+6591234567"), 400, 5013, "")


def test_a_fifo_and_a_link_to_dev_zero_in_the_scenario_folder_are_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "zero.yaml").symlink_to("/dev/zero")
    (tmp_path / "good.yaml").write_text(SCENARIO_HEAD.format(name="good")
                                        + "  - operation: send_otp\n    reply: {error: 1000}\n", encoding="utf-8")
    result = run_check("--scenarios-dir", str(tmp_path))  # bounded: it once hung for ever
    assert result.returncode == 2 and result.stderr.count("not a regular file") == 2, result.stderr


@pytest.mark.parametrize(("file", "text", "message"), [
    ("keys.yaml", "keys:\n  - {dev_key: a, dev_secret: b, disabled: \"false\"}\n", "expected true or false"),
    ("keys.yaml", "keys:\n  - {dev_key: a, dev_secret: b, permissions: 5}\n", "expected a list"),
    ("keys.yaml", "keys:\n  - {dev_key: \"a:b\", dev_secret: c}\n", "holds ':'"),
    ("keys.yaml", "keys:\n  - {dev_key: a, dev_secret: b, expires_at: 2026-13-45}\n", "quote it"),
    ("settings.yaml", "magic_values: \"false\"\n", "expected true or false"),
    ("settings.yaml", "retention_seconds: .inf\n", "finite"),
    ("settings.yaml", "port: 8090.5\n", "whole number"),
], ids=["disabled-string", "permissions-number", "dev-key-colon", "bad-date", "bool-string", "inf", "half-port"])
def test_bad_files_end_in_one_line_and_exit_status_2(tmp_path: Path, file: str, text: str, message: str) -> None:
    path = tmp_path / file
    path.write_text(text, encoding="utf-8")
    flag = "--keys-file" if file == "keys.yaml" else "--settings"
    result = run_check(flag, str(path))
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(("store", "message"), [
    ("sqlite:/", "that is a folder"),
    ("sqlite:/proc/nope/state.db", "cannot open the database"),
    ("redis://127.0.0.1:99999/0", "not a Redis URL"),
    ("redis://127.0.0.1:1/0", "cannot reach Redis"),
], ids=["folder", "unwritable", "port-99999", "unreachable"])
def test_bad_stores_end_in_one_line_and_exit_status_2(store: str, message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--store", store],
                            capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 2 and message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_a_corrupt_sqlite_file_ends_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "state.db").write_bytes(b"this is no database" * 100)
    result = subprocess.run([sys.executable, "-m", "mockserver", "serve", "--port", "0", "--store",
                             f"sqlite:{tmp_path / 'state.db'}"], capture_output=True, text=True, timeout=30, cwd=ROOT)
    assert result.returncode == 2 and "cannot open the database" in result.stderr, result.stderr
