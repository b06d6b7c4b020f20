"""Scenarios on the served mock (`otp-mock serve`), seen by a real HTTP client: every documented
code, each transport fault, delays, and hot reload of an edited file."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import PHONE, ResponseValidator
from mockserver.contract import Contract
from test_served import start, stop

pytestmark = pytest.mark.served
ROOT = Path(__file__).resolve().parent.parent
AUTH = ("team-a", "s3cret")
SEND = {"to": PHONE, "template": {"id": "test-template-1"}}
FAULTS = """
name: faults
description: one rule per transport fault, chosen by the X-Fault header
rules:
""" + "".join(f"""  - operation: "*"
    when: {{headers: {{X-Fault: {fault}}}}}
    reply: {{fault: {fault}}}
""" for fault in ("connection_reset", "empty_reply", "incomplete_body", "truncated_json", "malformed_json", "hang"))
SLOW = "name: slow\ndescription: half a second late\nrules:\n  - operation: list_templates\n    delay: 0.5\n"


@pytest.fixture(scope="module")
def served() -> Iterator[str]:
    process, url = start("--seed", "11")
    yield url
    stop(process)


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("scenarios")
    (folder / "faults.yaml").write_text(FAULTS, encoding="utf-8")
    (folder / "slow.yaml").write_text(SLOW, encoding="utf-8")
    process, url = start("--scenarios-dir", str(folder), "--scenario", "faults", "--set", "hang_seconds=5")
    yield url
    code, _, err = stop(process)
    assert code == 0, err


def checked(validator: ResponseValidator, response: requests.Response) -> requests.Response:
    validator.validate(response.request.method or "GET", requests.utils.urlparse(response.url).path, response)
    return response


# -- every documented code over HTTP ------------------------------------------------------------

MAGIC = {1000: "+12025550100", 3003: "+12025550103", 3004: "+12025550104", 5001: "+12025550101",
         **{code: f"+120255501{code - 5000}" for code in range(5011, 5021)}}
CONTRACT = Contract.load(ROOT / "openapi.yaml")
CASES = sorted(CONTRACT.errors)


@pytest.mark.parametrize("code", CASES, ids=[str(c) for c in CASES])
def test_every_documented_code_can_be_triggered(served: str, validator: ResponseValidator, code: int) -> None:
    info = CONTRACT.errors[code]
    op = CONTRACT.by_id["send_otp" if code in MAGIC else info.operations[0]]
    if code in MAGIC:  # a magic recipient, no scenario needed
        reply = requests.post(f"{served}/v1/messages", json={**SEND, "to": MAGIC[code]}, auth=AUTH, timeout=5)
    else:  # the shipped `errors` scenario, on the first operation that documents the code
        headers = {"X-Mock-Scenario": "errors", "X-Mock-Error": str(code)}
        body = _valid_body(op.operation_id)
        reply = requests.request(op.method, served + op.path.replace("{templateId}", "test-template-1"),
                                 json=body, headers=headers, auth=AUTH, timeout=5)
    checked(validator, reply)
    assert reply.status_code == info.status
    assert reply.headers["Content-Type"].startswith("application/json")
    assert reply.json() == {"code": code, "message": info.message_for(op.operation_id)}


def _valid_body(operation_id: str) -> Any:
    return {
        "send_otp": SEND,
        "send_custom_code": {**SEND, "code": "1234"},
        "send_custom_message": SEND,
        "verify_otp": {"message_id": "1", "verify_code": "1"},
        "create_template": {"template_id": "t", "send_channel_strategy": "sms",
                            "sms_config": {"template_type": 1, "template_default_config": {}}},
    }.get(operation_id)


# -- transport faults ---------------------------------------------------------------------------

def fault(url: str, name: str, timeout: float = 5) -> requests.Response:
    return requests.get(f"{url}/v1/template-configs", auth=AUTH, headers={"X-Fault": name}, timeout=timeout)


def test_connection_reset(faulty: str) -> None:
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        fault(faulty, "connection_reset")
    assert "reset" in str(caught.value).lower() or "aborted" in str(caught.value).lower()


def test_empty_reply(faulty: str) -> None:
    with pytest.raises(requests.exceptions.ConnectionError) as caught:
        fault(faulty, "empty_reply")
    assert "without response" in str(caught.value)


def test_incomplete_body(faulty: str) -> None:
    with pytest.raises(requests.exceptions.ChunkedEncodingError) as caught:
        fault(faulty, "incomplete_body")
    assert "IncompleteRead" in str(caught.value)


@pytest.mark.parametrize("name", ["truncated_json", "malformed_json"])
def test_json_that_does_not_parse(faulty: str, name: str) -> None:
    reply = fault(faulty, name)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("application/json")
    with pytest.raises(json.JSONDecodeError):
        json.loads(reply.content)


def test_hang_until_the_client_times_out(faulty: str) -> None:
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout):
        fault(faulty, "hang", timeout=1)
    assert time.monotonic() - started < 4


def test_faults_are_labelled_in_the_journal(faulty: str) -> None:
    requests.get(f"{faulty}/v1/template-configs", auth=AUTH, headers={"X-Fault": "truncated_json"}, timeout=5)
    entry = requests.get(f"{faulty}/_mock/requests?limit=1", timeout=5).json()["requests"][0]
    assert entry["note"] == "fault: truncated_json (deliberately outside the contract)"


def test_the_server_still_serves_after_faults(faulty: str) -> None:
    for name in ("connection_reset", "empty_reply", "incomplete_body"):
        with pytest.raises(requests.exceptions.RequestException):
            fault(faulty, name)
    assert requests.get(f"{faulty}/v1/template-configs", auth=AUTH, timeout=5).status_code == 200


def test_delay_is_measured_on_the_wire(faulty: str) -> None:
    started = time.monotonic()
    reply = requests.get(f"{faulty}/v1/template-configs", auth=AUTH, headers={"X-Mock-Scenario": "slow"}, timeout=10)
    elapsed = time.monotonic() - started
    assert reply.status_code == 200 and 0.5 <= elapsed < 5  # generous upper bound: a loaded CI machine


# -- hot reload ---------------------------------------------------------------------------------

def write(path: Path, text: str) -> None:
    path.write_text(text, encoding="utf-8")
    stamp = time.time() + 2  # a distinct modification time even on coarse file systems
    os.utime(path, (stamp, stamp))


def code_of(url: str) -> int | None:
    reply = requests.get(f"{url}/v1/template-configs", auth=AUTH, timeout=5)
    return None if reply.status_code == 200 else reply.json()["code"]


def eventually(check: Any, expected: Any, within: float = 5.0) -> Any:
    deadline = time.monotonic() + within
    while True:
        value = check()
        if value == expected or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_hot_reload_takes_edits_and_survives_broken_ones(tmp_path: Path) -> None:
    path = tmp_path / "live.yaml"
    rule = ("name: live\ndescription: edited while serving\nrules:\n"
            "  - operation: list_templates\n    reply: {{error: {}}}\n")
    write(path, rule.format(1000))
    process, url = start("--scenarios-dir", str(tmp_path), "--scenario", "live")
    try:
        assert code_of(url) == 1000
        write(path, rule.format(2004))
        assert eventually(lambda: code_of(url), 2004) == 2004  # the edit is live, no restart
        write(path, rule.format(2004).replace("reply: {", "reply: {{"))  # broken YAML
        listed = eventually(lambda: len(requests.get(f"{url}/_mock/scenarios", timeout=5).json()["errors"]), 1)
        assert listed == 1
        assert code_of(url) == 2004  # the last good version keeps running
        error = requests.get(f"{url}/_mock/scenarios", timeout=5).json()["errors"][0]
        assert error["file"].endswith("live.yaml") and "live.yaml:6:1:" in error["message"]
    finally:
        _, _, err = stop(process)
    assert "scenario file rejected (the last good version keeps running)" in err
