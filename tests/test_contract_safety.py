"""Safety on a target that is not the mock. The "staging server" here is the mock served over
loopback HTTP with its control plane hidden, so the suites must treat it as the real API, while
the tests can still look inside it afterwards and count every send and template write."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from werkzeug.serving import make_server

from mockserver import create_app
from mockserver.pipeline import ApiReply, Context
from mockserver.store.base import MessageQuery
from otp_mock_contracts import RunOptions, run_contract
from otp_mock_contracts.safety import SEND_OPERATIONS, SendGuard

KEY, SECRET = "staging", "Staging-s3cret-51c0"
ALLOWED = "+447700900123"


class Staging:
    """The mock behind a front that answers 404 under /_mock/, as any other server would."""

    def __init__(self, tmp_path: Path, interceptor: Any = None) -> None:
        keys = tmp_path / "keys.yaml"
        keys.write_text(yaml.safe_dump({"keys": [{"dev_key": KEY, "dev_secret": SECRET}]}), encoding="utf-8")
        self.app = create_app({"keys_file": str(keys), "max_events": 100_000, "validate_responses": "off"},
                              interceptor=interceptor)
        self.mock = self.app.mock
        self.server = make_server("127.0.0.1", 0, self.front, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def front(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO", "").startswith("/_mock"):
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [json.dumps({"code": 404, "message": "not found"}).encode()]
        return self.app(environ, start_response)

    def requests(self) -> list[Any]:
        """Every request that came with this run's valid credentials."""
        return list(self.mock.journal.recent(100_000, KEY))

    def messages(self) -> list[Any]:
        return list(self.mock.store.find_messages(MessageQuery(tenant=KEY, limit=100_000)))

    def template_ids(self) -> list[str]:
        return [t.template_id for t in self.mock.store.list_templates(KEY)]

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[Staging]:
    server = Staging(tmp_path)
    yield server
    server.stop()


def options(staging: Staging, tmp_path: Path, **changes: Any) -> RunOptions:
    return RunOptions(base_url=staging.url, dev_key=KEY, dev_secret=SECRET, report_dir=tmp_path / "reports",
                      max_examples=5, **changes)


def test_no_send_reaches_a_non_mock_target_without_allow_send_to(staging: Staging, tmp_path: Path) -> None:
    result = run_contract(options(staging, tmp_path))
    assert result.exit_code == 0, result.summary_text
    assert "(not the mock: treated as the real API)" in result.summary_text
    sends = [e for e in staging.requests() if e.operation in SEND_OPERATIONS]
    assert sends == [] and staging.messages() == [], f"{len(sends)} send request(s) reached the server"
    skipped = {o.name: o.detail for o in result.results.outcomes.values() if o.outcome == "skipped"}
    for label in ("POST /v1/messages", "POST /v1/codes", "POST /v1/custom-messages"):
        assert "unless --allow-send-to names the recipients" in skipped[f"test_operation[{label}]"]
    assert "needs the delivered code (/_mock/messages/latest), which only the mock offers" in (
        skipped["test_right_code_verifies_once_then_3003"])
    assert "no sends without --allow-send-to" in skipped["test_wrong_code_gives_verified_false"]
    assert "## Skipped" in result.summary_text and "Sends allowed to: nobody" in result.summary_text
    writes = [e for e in staging.requests() if e.operation in ("create_template", "delete_template")]
    assert writes == [], "template writes happened without --allow-template-writes"


def test_sends_go_only_to_allowed_recipients_and_stop_at_max_sends(staging: Staging, tmp_path: Path) -> None:
    result = run_contract(options(staging, tmp_path, allow_send_to=(ALLOWED,), max_sends=3))
    sent_to = {m.to for m in staging.messages()}
    assert sent_to <= {ALLOWED} and len(staging.messages()) <= 3, (sent_to, len(staging.messages()))
    reached = [e for e in staging.requests() if e.operation in SEND_OPERATIONS]
    assert 1 <= len(reached) <= 3, f"{len(reached)} send requests reached the server; the cap is 3"
    assert "Refused, not sent" in result.summary_text and "a recipient is not in --allow-send-to" in (
        result.summary_text)
    assert result.run.guard.sends <= 3


def test_template_writes_are_prefixed_and_cleaned_up_even_when_a_test_fails(tmp_path: Path) -> None:
    def drop_status(context: Context, reply: ApiReply) -> ApiReply:  # a failure for get_template
        if context.operation.operation_id == "get_template" and reply.status == 200:
            return ApiReply(200, {k: v for k, v in reply.body.items() if k != "status"})
        return reply

    class Broken:
        def before(self, context: Context) -> None:
            return None

        def after(self, context: Context, reply: ApiReply) -> ApiReply:
            return drop_status(context, reply)

    staging = Staging(tmp_path, interceptor=Broken())
    try:
        result = run_contract(options(staging, tmp_path, allow_template_writes=True))
        starting = {"test-template-1", "sms-default", "email-default", "notification-template"}
        assert result.exit_code == 1 and "\"status\" is a required property" in result.summary_text
        prefix = result.run.options.template_prefix
        writes = [e for e in staging.requests() if e.operation in ("create_template", "delete_template")
                  and e.status == 200]
        created = [e for e in writes if e.operation == "create_template"]
        assert created, "no template was created, so cleanup was not exercised"
        for entry in created:  # the journal cuts bodies over 2 KiB; the whole ones must name the prefix
            body = entry.body or ""
            assert prefix in body or body.endswith("characters)"), body[:300]
        assert all(prefix in e.path for e in writes if e.operation == "delete_template")
        assert not [t for t in staging.template_ids() if t.startswith(prefix)], "templates were left behind"
        assert starting <= set(staging.template_ids()), "a template the run did not create was deleted"
        assert f"Cleanup: deleted {len(result.results.cleanup.deleted)} template(s)" in result.summary_text
    finally:
        staging.stop()


@pytest.mark.parametrize(("op", "body", "params", "refused"), [
    ("send_otp", {"to": ALLOWED}, {}, None),
    ("send_otp", {"to": "+447700900999"}, {}, "a recipient is not in --allow-send-to"),
    ("send_custom_message", {"to": [ALLOWED, "+15550000000"]}, {}, "a recipient is not in --allow-send-to"),
    ("send_otp", {"to": 42}, {}, "a recipient is not in --allow-send-to"),
    ("create_template", {"template_id": "contract-run-x"}, {}, None),
    ("create_template", {"template_id": "login"}, {}, "only template ids starting with"),
    ("delete_template", None, {"templateId": "test-template-1"}, "only template ids starting with"),
    ("list_templates", None, {}, None),
])
def test_the_guard_decides_per_request(op: str, body: Any, params: dict[str, str], refused: str | None) -> None:
    guard = SendGuard(is_mock=False, allow_send_to=frozenset({ALLOWED}), max_sends=5, allow_template_writes=True,
                      prefix="contract-run-")
    reason = guard.admit(op, body, params)
    assert (reason is None) if refused is None else (reason is not None and refused in reason), reason


def test_the_guard_counts_recipients_against_max_sends() -> None:
    guard = SendGuard(is_mock=False, allow_send_to=frozenset({ALLOWED}), max_sends=2, allow_template_writes=False,
                      prefix="p-")
    assert guard.admit("send_custom_message", {"to": [ALLOWED, ALLOWED]}, {}) is None
    assert "send budget is used up (--max-sends 2)" in str(guard.admit("send_otp", {"to": ALLOWED}, {}))
    assert guard.sends == 2 and sum(guard.refused.values()) == 1
