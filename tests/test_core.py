"""Unit tests of the pure core: contract loading, codes, ids, rules, store, settings, auth."""

from __future__ import annotations

import ast
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from mockserver.auth import parse_basic
from mockserver.config import Settings
from mockserver.contract import Contract
from mockserver.errors import ApiError, ConfigError, ContractError
from mockserver.otp import codes
from mockserver.otp.ids import MessageIds
from mockserver.otp.model import OTP, Event, Message
from mockserver.otp.render import render
from mockserver.otp.rules import Outcome, verify_step
from mockserver.store import MemoryStore

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mockserver"


def message(**changes: Any) -> Message:
    base = Message(message_id="1", tenant="t", kind=OTP, operation="send_otp", to="+6591234567",
                   template_id="tpl", language="default", channel="sms", text="x", created_at=100.0,
                   code="123456", expires_at=400.0, max_attempts=3,
                   lifecycle=(Event("delivered", 100.0),))
    return replace(base, **changes)


# -- contract ----------------------------------------------------------------------------------

def spec() -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / "openapi.yaml").read_text(encoding="utf-8")))


@pytest.mark.parametrize(("break_it", "message_part"), [
    (lambda d: d["paths"]["/v1/messages"]["post"].pop("operationId"), "POST /v1/messages has no operationId"),
    (lambda d: d.pop("x-error-codes"), "missing the error catalogue"),
    (lambda d: d["x-error-codes"]["3004"].pop("status"), "x-error-codes '3004' is incomplete"),
    (lambda d: d["x-error-codes"]["3004"]["operations"].append("sendOtp"), "unknown operation 'sendOtp'"),
    (lambda d: d["x-error-codes"]["3004"].update(messages={"verify_otp": "x"}),
     "x-error-codes 3004 has a message for 'verify_otp', which is not one of its operations"),
    (lambda d: d["components"]["schemas"].pop("Recipient"), "does not compile"),
])
def test_a_broken_contract_fails_at_start_up(tmp_path: Path, break_it: Any, message_part: str) -> None:
    document = spec()
    break_it(document)
    path = tmp_path / "openapi.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ContractError, match=message_part):
        Contract.load(path)


def test_contract_reads_every_status_from_the_catalogue() -> None:
    contract = Contract.load(ROOT / "openapi.yaml")
    assert {c: contract.status_of(c) for c in (1000, 2001, 2002, 2004, 3004, 4001)} == {
        1000: 500, 2001: 401, 2002: 401, 2004: 403, 3004: 400, 4001: 400}


# -- codes, ids, rendering ---------------------------------------------------------------------

@pytest.mark.parametrize(("mask", "allowed"), [
    (1, set("0123456789")), (2, set("abcdefghijklmnopqrstuvwxyz")), (4, set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")),
    (7, set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")),
])
def test_codes_follow_the_mask_and_length(mask: int, allowed: set[str]) -> None:
    rng = random.Random(1)
    generated = [codes.generate(rng, mask, 10) for _ in range(200)]
    assert all(len(c) == 10 and set(c) <= allowed for c in generated)
    assert set("".join(generated)) == allowed  # every allowed character shows up


def test_codes_are_replayable_with_a_seed() -> None:
    assert codes.generate(random.Random(5), 1, 6) == codes.generate(random.Random(5), 1, 6)


def test_codes_compare_in_constant_time_and_reject_lookalike_digits() -> None:
    assert codes.same_code("123456", "123456")
    assert not codes.same_code("123456", "１２３４５６")  # full-width digits are not digits here
    assert not codes.same_code("123456", "12345")


def test_no_plain_equality_on_secrets() -> None:
    """Codes and secrets are compared with hmac.compare_digest, never ==."""
    for path in (PACKAGE / "otp" / "rules.py", PACKAGE / "auth.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and any(isinstance(op, (ast.Eq, ast.NotEq)) for op in node.ops):
                names = {n.attr if isinstance(n, ast.Attribute) else getattr(n, "id", "")
                         for n in ast.walk(node)}
                assert not names & {"code", "given", "secret", "dev_secret"}, ast.unparse(node)


def test_message_ids_are_19_digits_and_unique() -> None:
    ids = MessageIds(node=3)
    made = [ids.next() for _ in range(20_000)]
    assert len(set(made)) == len(made)
    assert all(len(i) == 19 and i.isdigit() for i in made)
    assert made == sorted(made)


def test_a_forked_worker_takes_its_own_node_number() -> None:
    """Workers forked from a master that already made ids (preload) must not share its node bits."""
    import multiprocessing
    import os

    ids = MessageIds()
    parent_node = (int(ids.next()) >> 12) & 0x3FF
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    child = context.Process(target=lambda: writer.send((ids.next(), os.getpid())))  # inherits `ids`
    child.start()
    assert reader.poll(10)
    child_id, child_pid = reader.recv()
    child.join(timeout=10)
    assert (int(child_id) >> 12) & 0x3FF == child_pid & 0x3FF != parent_node


@pytest.mark.parametrize(("text", "values", "expected"), [
    ("Hi {{name}}, code {{code}}", {"name": "Bob", "code": "12"}, "Hi Bob, code 12"),
    ("Hi {{name}}", {}, "Hi {{name}}"),
    ("{{ code }}!", {"code": "7"}, "7!"),
    ("{{code}}", {"code": "{{name}}", "name": "x"}, "{{name}}"),  # values are not re-rendered
])
def test_render(text: str, values: dict[str, str], expected: str) -> None:
    assert render(text, values) == expected


# -- the verification rule ---------------------------------------------------------------------

@pytest.mark.parametrize(("msg", "given", "now", "outcome", "attempts"), [
    (message(), "123456", 399.0, Outcome.VERIFIED, 0),
    (message(), "654321", 399.0, Outcome.WRONG, 1),
    (message(), "123456", 400.0, Outcome.EXPIRED, 0),
    (message(attempts=3), "123456", 200.0, Outcome.EXHAUSTED, 3),
    (message(verified_at=150.0), "123456", 200.0, Outcome.ALREADY_VERIFIED, 0),
    (message(verified_at=150.0), "123456", 500.0, Outcome.ALREADY_VERIFIED, 0),
])
def test_verify_step(msg: Message, given: str, now: float, outcome: Outcome, attempts: int) -> None:
    updated, result = verify_step(msg, given, now)
    assert result is outcome and updated.attempts == attempts


# -- the memory store --------------------------------------------------------------------------

def test_store_purges_after_retention_and_frees_the_resend_key() -> None:
    real = [1000.0]
    store = MemoryStore(retention_seconds=60, real_time=lambda: real[0])
    store.insert_messages([(message(message_id="1"), "k")], 100.0)
    assert store.insert_messages([(message(message_id="2"), "k")], 100.0) is not None  # still active
    real[0] += 300 + 61  # lifetime (300 s) + retention
    assert store.purge(real[0]) == 1 and store.count_messages() == 0
    assert store.insert_messages([(message(message_id="3"), "k")], 100.0) is None


def test_store_keeps_at_most_max_messages() -> None:
    store = MemoryStore(max_messages=10)
    for n in range(25):
        store.insert_messages([(message(message_id=str(n)), None)], 100.0)
    assert store.count_messages() == 10
    assert store.get_message("t", "24") is not None and store.get_message("t", "0") is None


# -- settings ----------------------------------------------------------------------------------

def test_settings_precedence_file_then_env_then_overrides(tmp_path: Path) -> None:
    file = tmp_path / "s.yaml"
    file.write_text("max_verify_attempts: 2\nport: 9000\nverify_custom_codes: true\n", encoding="utf-8")
    env = {"OTP_MOCK_PORT": "9100", "OTP_MOCK_RESEND_GUARD": "send_otp, send_custom_code"}
    settings = Settings.load(file, env=env, overrides={"port": 9200})
    assert (settings.max_verify_attempts, settings.port, settings.verify_custom_codes) == (2, 9200, True)
    assert settings.resend_guard == ("send_otp", "send_custom_code")


@pytest.mark.parametrize(("values", "message_part"), [
    ({"max_verify_attempt": 3}, "did you mean 'max_verify_attempts'"),
    ({"port": "eighty"}, "setting port: expected int"),
    ({"validate_responses": "loud"}, "expected one of off, log, raise"),
    ({"max_verify_attempts": 0}, "expected a positive number"),
    ({"verify_custom_codes": "maybe"}, "use true or false"),
])
def test_bad_settings_say_what_to_fix(values: dict[str, Any], message_part: str) -> None:
    with pytest.raises(ConfigError, match=message_part):
        Settings.from_mapping(values)


# -- auth --------------------------------------------------------------------------------------

def test_parse_basic_accepts_colons_in_the_secret() -> None:
    assert parse_basic("Basic a2V5OnNlYzpyZXQ=") == ("key", "sec:ret")


@pytest.mark.parametrize("header", [None, "", "Basic", "Basic a2V5", "Digest x", "Basic //8=", "Basic Oms="])
def test_parse_basic_rejects_with_2001(header: str | None) -> None:
    with pytest.raises(ApiError) as caught:
        parse_basic(header)
    assert caught.value.code == 2001


# -- packaging ---------------------------------------------------------------------------------

def test_the_packaged_contract_is_the_repo_contract() -> None:
    """mockserver/data/openapi.yaml links to the root file, so the package ships what is tested."""
    assert (PACKAGE / "data" / "openapi.yaml").read_bytes() == (ROOT / "openapi.yaml").read_bytes()


def test_the_packaged_scenarios_are_the_repo_scenarios() -> None:
    """mockserver/data/scenarios links to the root folder, so `pip install .` ships the library."""
    packaged = sorted(p.name for p in (PACKAGE / "data" / "scenarios").glob("*.yaml"))
    assert packaged == sorted(p.name for p in (ROOT / "scenarios").glob("*.yaml")) and packaged


def test_store_batch_is_all_or_nothing() -> None:
    store = MemoryStore()
    store.insert_messages([(message(message_id="1", to="a"), "k-a")], 100.0)
    blocked = store.insert_messages([(message(message_id="2", to="b"), "k-b"), (message(message_id="3"), "k-a")], 100.0)
    assert blocked is not None and blocked.message_id == "1"
    assert store.get_message("t", "2") is None  # nothing of the refused batch was stored
    twice = store.insert_messages([(message(message_id="4"), "k-c"), (message(message_id="5"), "k-c")], 100.0)
    assert twice is not None and store.count_messages() == 1


def test_bad_scheme_is_not_echoed() -> None:
    with pytest.raises(ApiError) as caught:
        parse_basic("team-a:s3cret")
    assert "s3cret" not in caught.value.message


def test_tenants_are_bounded() -> None:
    store = MemoryStore(max_tenants=3)
    for n in range(10):
        store.insert_messages([(message(message_id=str(n), tenant=f"k{n}"), None)], 100.0)
    assert store.tenants() == ["k7", "k8", "k9"] and store.count_messages() == 3


@pytest.mark.parametrize(("values", "message_part"), [
    ({"max_delay_seconds": -1}, "expected a finite number of seconds"),
    ({"hang_seconds": "nan"}, "expected a finite number of seconds"),
])
def test_bad_seconds_are_refused(values: dict[str, Any], message_part: str) -> None:
    with pytest.raises(ConfigError, match=message_part):
        Settings.from_mapping(values)


def test_unknown_environment_variables_are_ignored() -> None:
    settings = Settings.load(env={"OTP_MOCK_URL": "http://x", "OTP_MOCK_PORT": "9001"})
    assert settings.port == 9001


def test_resend_guard_names_real_operations() -> None:
    from mockserver import create_app

    with pytest.raises(ConfigError, match="unknown operation 'send_otpp'; did you mean 'send_otp'"):
        create_app({"resend_guard": "send_otpp"})
