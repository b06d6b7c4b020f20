"""Bad input never gets a 500, and never changes what was there before.

One table of hostile requests against the three operations that take a body (send_otp,
verify_otp, create_template). Each case first creates state (an OTP and its code), sends one bad
request, checks the exact status, error code and envelope, then checks the state is intact: the
earlier code still verifies, the templates list and the stored messages are unchanged (except
for what a case that is accepted adds on purpose).

Behaviours worth knowing, as the mock does them:

- A JSON value that is not an object (`[]`, `"x"`, `42`, `null`, `true`) is valid JSON of the
  wrong type: 3002, not 3001.
- `charset` on `application/json` is ignored; the body is always read as UTF-8 (RFC 8259), so a
  latin-1 `é` is 3001.
- Duplicate keys: the last one wins (Python's `json`), for top-level and nested objects.
- Nesting deeper than `max_json_depth` (32) is 3001, even under an unknown field.
- Authentication comes first: a bad Authorization header is 2001 whatever the body.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from werkzeug.test import TestResponse

from conftest import PHONE, Client, basic
from mockserver import create_app
from mockserver.otp.clock import ManualClock

MESSAGES = "/v1/messages"
VERIFY = "/v1/verifications"
TEMPLATES = "/v1/template-configs"
ENDPOINTS = {"messages": MESSAGES, "verify": VERIFY, "templates": TEMPLATES}

JSON_TYPE = "application/json"
AUTH = basic()["Authorization"]
OTHER = "+6590000001"  # recipient of the cases that send successfully (PHONE holds the state)
MID, CODE = "@MID@", "@CODE@"  # placeholders for the state message's id and code
NEW_ID = "bad-input-template"
TEMPLATE_BODY: dict[str, Any] = {
    "template_id": NEW_ID,
    "description": "made by test_bad_input",
    "send_channel_strategy": "sms",
    "brand_name": "Acme",
    "verify_code_config": {"verify_code_type": 1, "verify_code_len": 6, "verify_code_ttl": 5},
    "sms_config": {"template_type": 1, "template_default_config": {"contain_expire": True}},
}
TEMPLATE_REF = b'{"id": "test-template-1"}'
VALID: dict[str, dict[str, Any]] = {
    MESSAGES: {"to": OTHER, "template": {"id": "test-template-1"}},
    VERIFY: {"message_id": MID, "verify_code": "not-the-code"},
    TEMPLATES: TEMPLATE_BODY,
}


@dataclass(frozen=True)
class Case:
    """One hostile request and what the mock must answer."""

    path: str
    body: bytes
    status: int
    code: int | None = None  # the error code; None for an accepted request (200)
    content_type: str | None = JSON_TYPE
    authorization: str | None = AUTH
    settings: dict[str, Any] = field(default_factory=dict)
    returns: dict[str, Any] = field(default_factory=dict)  # fields an accepted reply must have
    adds_template: str | None = None  # the template_id an accepted create_template adds

    def render(self, message_id: str, code: str) -> bytes:
        return self.body.replace(MID.encode(), message_id.encode()).replace(CODE.encode(), code.encode())

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.content_type is not None:
            headers["Content-Type"] = self.content_type
        if self.authorization is not None:
            headers["Authorization"] = self.authorization
        return headers


def js(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


def merged(path: str, **changes: Any) -> dict[str, Any]:
    """The valid body of an operation with some top-level fields replaced."""
    return {**VALID[path], **changes}


def with_template(**changes: Any) -> dict[str, Any]:
    """A send_otp body whose `template` object has some fields replaced."""
    return merged(MESSAGES, template={"id": "test-template-1", **changes})


def with_code_config(**changes: Any) -> dict[str, Any]:
    return merged(TEMPLATES, verify_code_config={**TEMPLATE_BODY["verify_code_config"], **changes})


def in_script(zero: str, text: str) -> str:
    """`text` with its ASCII digits written in another script, given that script's zero."""
    return "".join(chr(ord(zero) + int(c)) if c in "0123456789" else c for c in text)


def token(raw: bytes) -> str:
    return "Basic " + base64.b64encode(raw).decode("ascii")


def rejected(name: str, path: str, body: bytes, status: int, code: int, **kw: Any) -> Any:
    return pytest.param(Case(path, body, status, code, **kw), id=name)


def accepted(name: str, path: str, body: bytes, **kw: Any) -> Any:
    if path == TEMPLATES and "adds_template" not in kw:
        kw["adds_template"] = NEW_ID
    return pytest.param(Case(path, body, 200, None, **kw), id=name)


def nested(depth: int) -> Any:
    value: Any = "leaf"
    for _ in range(depth):
        value = {"a": value}
    return value


def inject(path: str, raw_field: bytes) -> bytes:
    """The valid body of `path` with `, <raw_field>` added as its last member (raw JSON text)."""
    text = js(VALID[path])
    return text[:-1] + b", " + raw_field + b"}"



def _every_endpoint() -> list[Any]:
    """Cases about the body as a whole: the same answer whichever operation receives it."""
    cases: list[Any] = []
    for name, path in ENDPOINTS.items():
        valid = js(VALID[path])
        cases += [
            # malformed JSON
            rejected(f"{name}-truncated", path, valid[:-5], 400, 3001),
            rejected(f"{name}-trailing-comma", path, valid[:-1] + b",}", 400, 3001),
            rejected(f"{name}-single-quotes", path, valid.replace(b'"', b"'"), 400, 3001),
            rejected(f"{name}-two-documents", path, valid + valid, 400, 3001),
            rejected(f"{name}-bare-word", path, b"hello", 400, 3001),
            # JSON, but not an object: a schema violation
            rejected(f"{name}-array", path, b"[]", 400, 3002),
            rejected(f"{name}-string", path, b'"x"', 400, 3002),
            rejected(f"{name}-number", path, b"42", 400, 3002),
            rejected(f"{name}-null", path, b"null", 400, 3002),
            rejected(f"{name}-true", path, b"true", 400, 3002),
            # content types and empty bodies
            rejected(f"{name}-text-plain", path, valid, 400, 3001, content_type="text/plain"),
            rejected(f"{name}-form", path, b"to=%2B6590000001", 400, 3001,
                     content_type="application/x-www-form-urlencoded"),
            rejected(f"{name}-no-content-type", path, valid, 400, 3001, content_type=None),
            accepted(f"{name}-charset-latin1-ascii-body", path, valid,
                     content_type="application/json; charset=latin-1"),
            rejected(f"{name}-charset-latin1-latin1-body", path, inject(path, b'"n\xe9": 1'), 400, 3001,
                     content_type="application/json; charset=latin-1"),
            rejected(f"{name}-empty", path, b"", 400, 3001),
            rejected(f"{name}-whitespace-only", path, b" \r\n\t ", 400, 3001),
            # encoding
            rejected(f"{name}-utf16-bom", path, b"\xff\xfe" + valid, 400, 3001),
            rejected(f"{name}-utf8-bom", path, b"\xef\xbb\xbf" + valid, 400, 3001),
            rejected(f"{name}-overlong-utf8", path, inject(path, b'"x": "\xc0\xaf"'), 400, 3001),
            rejected(f"{name}-truncated-multibyte", path, inject(path, b'"x": "\xe2\x82"'), 400, 3001),
            rejected(f"{name}-lone-surrogate-value", path, inject(path, b'"x": "\\ud800"'), 400, 3001),
            rejected(f"{name}-lone-surrogate-key", path, inject(path, b'"\\udfff": 1'), 400, 3001),
            accepted(f"{name}-paired-surrogates", path, inject(path, b'"x": "\\ud83d\\ude00"')),
            # numbers JSON does not have
            rejected(f"{name}-nan", path, inject(path, b'"x": NaN'), 400, 3001),
            rejected(f"{name}-infinity", path, inject(path, b'"x": Infinity'), 400, 3001),
            rejected(f"{name}-minus-infinity", path, inject(path, b'"x": -Infinity'), 400, 3001),
            rejected(f"{name}-1e400", path, inject(path, b'"x": 1e400'), 400, 3001),
            rejected(f"{name}-5000-digit-integer", path, inject(path, b'"x": ' + b"7" * 5000), 400, 3001),
            # nesting
            rejected(f"{name}-nested-arrays-100", path, b"[" * 100 + b"]" * 100, 400, 3001),
            rejected(f"{name}-nested-arrays-1000", path, b"[" * 1000 + b"]" * 1000, 400, 3001),
            rejected(f"{name}-nested-arrays-100000", path, b"[" * 100_000 + b"]" * 100_000, 400, 3001),
            rejected(f"{name}-open-arrays-100000", path, b"[" * 100_000, 400, 3001),
            rejected(f"{name}-nested-objects-unknown-field", path, inject(path, b'"x": ' + js(nested(40))),
                     400, 3001),
            accepted(f"{name}-nested-objects-within-limit", path, inject(path, b'"x": ' + js(nested(20)))),
            # size
            rejected(f"{name}-over-max-body-bytes", path, inject(path, b'"x": "' + b"p" * 5000 + b'"'),
                     400, 3001, settings={"max_body_bytes": 4096}),
            # unknown fields
            accepted(f"{name}-unknown-fields", path, inject(path, b'"zzz": {"any": [1, true, null]}')),
            # authentication, checked before the body
            rejected(f"{name}-no-authorization", path, valid, 401, 2001, authorization=None),
            rejected(f"{name}-bearer", path, valid, 401, 2001, authorization="Bearer x"),
            rejected(f"{name}-basic-without-token", path, valid, 401, 2001, authorization="Basic"),
            rejected(f"{name}-basic-not-base64", path, valid, 401, 2001, authorization="Basic !!!"),
            rejected(f"{name}-basic-without-colon", path, valid, 401, 2001,
                     authorization=token(b"team-a")),
            rejected(f"{name}-basic-empty-key", path, valid, 401, 2001, authorization=token(b":s3cret")),
            rejected(f"{name}-basic-empty-secret", path, valid, 401, 2001, authorization=token(b"team-a:")),
            rejected(f"{name}-basic-not-utf8", path, valid, 401, 2001,
                     authorization=token(b"\xff\xfe:s3cret")),
            rejected(f"{name}-no-authorization-and-bad-json", path, b"{", 401, 2001, authorization=None),
            accepted(f"{name}-scheme-in-upper-case", path, valid,
                     authorization="BASIC " + AUTH.split()[1]),
        ]
    return cases


def _messages() -> list[Any]:
    """send_otp: wrong types, ranges and recipients that are not ASCII E.164."""
    cases = [
        ("to-number", js(merged(MESSAGES, to=6591234567)), 3002),
        ("to-array", js(merged(MESSAGES, to=[OTHER])), 3002),
        ("to-object", js(merged(MESSAGES, to={"phone": OTHER})), 3002),
        ("to-null", js(merged(MESSAGES, to=None)), 3002),
        ("to-empty", js(merged(MESSAGES, to="")), 3002),
        ("to-missing", js({"template": {"id": "test-template-1"}}), 3002),
        ("template-string", js(merged(MESSAGES, template="test-template-1")), 3002),
        ("template-missing", js({"to": OTHER}), 3002),
        ("template-id-number", js(with_template(id=1)), 3002),
        ("template-id-129-chars", js(with_template(id="t" * 129)), 3002),
        ("params-value-number", js(with_template(params={"n": 1})), 3002),
        ("params-value-float", js(with_template(params={"n": 1.5})), 3002),
        ("params-array", js(with_template(params=["a"])), 3002),
        ("language-fr", js(with_template(language="fr")), 3002),
        ("language-number", js(with_template(language=1)), 3002),
        ("to-4000-digit-integer", b'{"to": ' + b"7" * 4000 + b', "template": ' + TEMPLATE_REF + b"}", 3002),
        ("to-fullwidth-plus", js(merged(MESSAGES, to="\uff0b6590000001")), 5011),
        ("to-fullwidth-digits", js(merged(MESSAGES, to=in_script("\uff10", OTHER))), 5011),
        ("to-arabic-indic-digits", js(merged(MESSAGES, to=in_script("\u0660", OTHER))), 5011),
        ("to-trailing-newline", js(merged(MESSAGES, to=OTHER + "\n")), 5011),
        ("to-with-spaces", js(merged(MESSAGES, to="+65 9000 0001")), 5011),
        ("to-1mb-within-limit", js(merged(MESSAGES, to="+1" + "2" * 1_000_000)), 5011),
        ("to-over-1mib-default-limit", js(merged(MESSAGES, to="+1" + "2" * 1_100_000)), 3001),
        ("to-duplicate-valid-first", b'{"to": "' + OTHER.encode() + b'", "to": 42, "template": ' + TEMPLATE_REF + b"}",
         3002),
    ]
    params = [rejected(f"messages-{name}", MESSAGES, body, 400, code) for name, body, code in cases]
    params += [
        rejected("messages-to-over-small-limit", MESSAGES, js(merged(MESSAGES, to="+1" + "2" * 8000)),
                 400, 3001, settings={"max_body_bytes": 4096}),
        accepted("messages-to-duplicate-valid-last",
                 MESSAGES, b'{"to": 42, "to": "' + OTHER.encode() + b'", "template": ' + TEMPLATE_REF + b"}"),
        accepted("messages-template-id-duplicate-valid-last", MESSAGES,
                 b'{"to": "' + OTHER.encode() + b'", "template": {"id": "nope", "id": "test-template-1"}}'),
        accepted("messages-4000-digit-integer-unknown-field", MESSAGES,
                 inject(MESSAGES, b'"x": ' + b"7" * 4000)),
        accepted("messages-language-en", MESSAGES, js(with_template(language="en"))),
    ]
    return params


def _verifications() -> list[Any]:
    params = [
        rejected(f"verify-{name}", VERIFY, body, 400, 3002)
        for name, body in [
            ("verify-code-number", b'{"message_id": "' + MID.encode() + b'", "verify_code": 123456}'),
            ("verify-code-null", js({"message_id": MID, "verify_code": None})),
            ("verify-code-empty", js({"message_id": MID, "verify_code": ""})),
            ("verify-code-array", js({"message_id": MID, "verify_code": [CODE]})),
            ("verify-code-missing", js({"message_id": MID})),
            ("message-id-number", b'{"message_id": 2125659138191503360, "verify_code": "' + CODE.encode() + b'"}'),
            ("message-id-empty", js({"message_id": "", "verify_code": CODE})),
            ("message-id-missing", js({"verify_code": CODE})),
        ]
    ]
    params += [
        rejected("verify-message-id-unknown", VERIFY, js({"message_id": "1", "verify_code": CODE}), 400, 4001),
        rejected("verify-message-id-not-digits", VERIFY, js({"message_id": "abc", "verify_code": CODE}),
                 400, 4001),
        # The last verify_code wins: the wrong one, so the code is not used up.
        accepted("verify-verify-code-duplicate-wrong-last", VERIFY,
                 b'{"message_id": "@MID@", "verify_code": "@CODE@", "verify_code": "nope"}',
                 returns={"verified": False, "verify_code": "nope"}),
        accepted("verify-verify-code-1mb", VERIFY, js({"message_id": MID, "verify_code": "9" * 1_000_000}),
                 returns={"verified": False}),
    ]
    return params


def _templates() -> list[Any]:
    cases = [
        ("verify-code-len-3", with_code_config(verify_code_len=3)),
        ("verify-code-len-11", with_code_config(verify_code_len=11)),
        ("verify-code-len-string", with_code_config(verify_code_len="6")),
        ("verify-code-len-float", with_code_config(verify_code_len=6.5)),
        ("verify-code-len-bool", with_code_config(verify_code_len=True)),
        ("verify-code-type-0", with_code_config(verify_code_type=0)),
        ("verify-code-type-8", with_code_config(verify_code_type=8)),
        ("verify-code-ttl-0", with_code_config(verify_code_ttl=0)),
        ("verify-code-ttl-11", with_code_config(verify_code_ttl=11)),
        ("brand-name-1-char", merged(TEMPLATES, brand_name="A")),
        ("brand-name-11-chars", merged(TEMPLATES, brand_name="A" * 11)),
        ("brand-name-number", merged(TEMPLATES, brand_name=12)),
        ("description-256-chars", merged(TEMPLATES, description="d" * 256)),
        ("template-id-129-chars", merged(TEMPLATES, template_id="t" * 129)),
        ("template-id-empty", merged(TEMPLATES, template_id="")),
        ("template-id-number", merged(TEMPLATES, template_id=7)),
        ("strategy-unknown-channel", merged(TEMPLATES, send_channel_strategy="fax")),
        ("sms-template-type-3", merged(TEMPLATES, sms_config={**TEMPLATE_BODY["sms_config"], "template_type": 3})),
        ("verify-code-config-array", merged(TEMPLATES, verify_code_config=[6])),
    ]
    params = [rejected(f"templates-{name}", TEMPLATES, js(body), 400, 3002) for name, body in cases]
    params += [
        accepted("templates-boundaries-accepted", TEMPLATES, js(merged(
            TEMPLATES, brand_name="A" * 10, description="d" * 255, template_id="t" * 128,
            verify_code_config={"verify_code_type": 7, "verify_code_len": 10, "verify_code_ttl": 10})),
            adds_template="t" * 128),
        accepted("templates-lower-boundaries-accepted", TEMPLATES, js(merged(
            TEMPLATES, brand_name="AB",
            verify_code_config={"verify_code_type": 1, "verify_code_len": 4, "verify_code_ttl": 1}))),
        accepted("templates-template-id-duplicate-last-wins", TEMPLATES,
                 b'{"template_id": "dup-first", ' + js(merged(TEMPLATES, template_id="dup-last"))[1:],
                 adds_template="dup-last"),
        rejected("templates-already-exists", TEMPLATES, js(merged(TEMPLATES, template_id="test-template-1")),
                 400, 3003),
    ]
    return params


CASES = [*_every_endpoint(), *_messages(), *_verifications(), *_templates()]


@pytest.fixture
def settings(case: Case) -> dict[str, Any]:
    """Each case brings its own settings (a small max_body_bytes for the size cases)."""
    return dict(case.settings)


@pytest.fixture(scope="module")
def apps() -> dict[str, Flask]:
    return {}


@pytest.fixture
def app(settings: dict[str, Any], apps: dict[str, Flask]) -> Flask:
    """conftest's app, built once per distinct settings and reset before each case.

    Compiling the contract costs ~0.1 s, two hundred times over; `/_mock/reset` gives each
    case the same fresh state (seeded templates, no messages, no clock offset) far faster.
    """
    key = json.dumps(settings, sort_keys=True)
    if key not in apps:
        config = {"seed": 1234, "validate_responses": "raise", **settings}
        apps[key] = create_app(config, clock=ManualClock())
    reset = apps[key].test_client().post("/_mock/reset", content_type="application/json")
    assert reset.status_code == 200, reset.get_data()
    return apps[key]


@dataclass(frozen=True)
class State:
    message_id: str
    code: str
    templates: list[dict[str, Any]]
    messages: list[dict[str, Any]]


def strict_json(response: TestResponse) -> Any:
    """The body as RFC 8259 JSON: valid UTF-8, and no NaN/Infinity tokens."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"the reply holds {token}, which is not JSON")

    return json.loads(response.get_data().decode("utf-8"), parse_constant=refuse)


def snapshot(client: Client, message_id: str = "", code: str = "") -> State:
    templates = client.get(TEMPLATES)
    assert templates.status_code == 200, templates.get_data()
    messages = client.get("/_mock/messages?limit=1000", key=None)
    assert messages.status_code == 200, messages.get_data()
    return State(message_id, code, strict_json(templates), strict_json(messages)["messages"])


def make_state(client: Client) -> State:
    sent = client.send(PHONE)
    assert sent.status_code == 200, sent.get_data()
    message_id = sent.get_json()["message_id"]
    return snapshot(client, message_id, client.code_of(message_id))


def check_reply(response: TestResponse, case: Case) -> None:
    assert response.status_code < 500, response.get_data()[:500]
    assert response.mimetype == JSON_TYPE
    body = strict_json(response)
    assert response.status_code == case.status, body
    if case.code is None:
        assert isinstance(body, dict), body
        assert case.returns.items() <= body.items(), body
        return
    assert set(body) == {"code", "message"}, body
    assert body["code"] == case.code, body
    assert isinstance(body["message"], str) and body["message"].strip(), body


def check_state_intact(client: Client, before: State, case: Case) -> None:
    after = snapshot(client)
    if case.adds_template is None:
        assert after.templates == before.templates
    else:
        assert after.templates[:-1] == before.templates
        assert after.templates[-1]["template_id"] == case.adds_template
    added = 1 if case.path == MESSAGES and case.status == 200 else 0
    assert len(after.messages) == len(before.messages) + added
    assert {m["message_id"] for m in before.messages} <= {m["message_id"] for m in after.messages}
    verified = client.verify(before.message_id, before.code)
    assert verified.status_code == 200, verified.get_data()
    assert verified.get_json()["verified"] is True


@pytest.mark.parametrize("case", CASES)
def test_bad_input_never_gets_a_500(client: Client, case: Case) -> None:
    before = make_state(client)
    response = client.post(case.path, data=case.render(before.message_id, before.code),
                           headers=case.headers(), key=None)
    check_reply(response, case)
    check_state_intact(client, before, case)


def test_ids_are_unique() -> None:
    ids = [param.id for param in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_pathological_recipient_is_answered_at_once(make_client: Any) -> None:
    """A recipient built to make a backtracking email pattern quadratic (a@....@): with 500,000
    dots such a pattern needs about 15 minutes; a linear check answers in milliseconds, so the
    bound below is generous and only catches the quadratic case, it is not a speed target."""
    client = make_client()
    started = time.perf_counter()
    response = client.send("a@" + "." * 500_000 + "@")
    elapsed = time.perf_counter() - started
    assert response.status_code == 400 and response.get_json()["code"] == 5011
    assert len(response.get_json()["message"]) < 200  # the reply does not echo the whole input
    assert elapsed < 5, f"a 500 kB recipient took {elapsed:.2f} s"



def test_no_reply_holds_infinity(make_client: Any) -> None:
    """Whatever a body smuggles in, what the mock sends back is JSON (no Infinity/NaN tokens)."""
    client = make_client()
    sms = {**TEMPLATE_BODY["sms_config"], "x": "@BIG@"}
    codes = {**TEMPLATE_BODY["verify_code_config"], "x": "@BIG@"}
    body = js(merged(TEMPLATES, sms_config=sms, verify_code_config=codes)).replace(b'"@BIG@"', b"1e400")
    created = client.post(TEMPLATES, data=body, headers={"Content-Type": JSON_TYPE})
    assert created.status_code in (200, 400), created.get_data()
    strict_json(created)
    for path in (TEMPLATES, f"{TEMPLATES}/{NEW_ID}"):  # the list, then the detail
        strict_json(client.get(path))
