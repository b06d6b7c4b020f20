"""Proof that the contract suites catch drift: each test runs them against a deliberately broken
variant of the mock (built with the pipeline's interceptor hook, not a toy server) and requires a
failure that names the problem: the check, the operation, and the field or code involved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mockserver.pipeline import ApiReply, Context
from otp_mock_contracts import RunOptions, RunResult, run_contract

SECRET = "Drift-s3cret-4b1e"
BROKEN = {"validate_responses": "off"}  # the mock's own guard would refuse to send these replies


@dataclass
class Variant:
    """A broken mock: `before` answers instead of the mock, `after` rewrites its replies."""

    answer: Callable[[Context], ApiReply | None] | None = None
    rewrite: Callable[[Context, ApiReply], ApiReply] | None = None

    def before(self, context: Context) -> ApiReply | None:
        return self.answer(context) if self.answer else None

    def after(self, context: Context, reply: ApiReply) -> ApiReply:
        return self.rewrite(context, reply) if self.rewrite else reply


def only(operation: str, status: int, change: Callable[[Context, ApiReply], ApiReply]) -> Variant:
    """Rewrite the replies of one operation with one status."""
    def rewrite(context: Context, reply: ApiReply) -> ApiReply:
        if context.operation.operation_id == operation and reply.status == status:
            return change(context, reply)
        return reply
    return Variant(rewrite=rewrite)


def run_variant(tmp_path: Path, capfd: pytest.CaptureFixture[str], variant: Variant, select: str,
                **settings: Any) -> RunResult:
    options = RunOptions(report_dir=tmp_path / "reports", dev_key="drift", dev_secret=SECRET, select=select,
                         max_examples=10)
    result = run_contract(options, mock_settings={**BROKEN, **settings}, interceptor=variant)
    out, err = capfd.readouterr()
    assert result.exit_code == 1, f"the suites missed the drift:\n{result.summary_text}"
    for text in (out, err, result.summary_text, result.junit.read_text(encoding="utf-8")):
        assert not result.run.masker.leaks(text), "the secret leaked into the output or a report"
    return result


def assert_check_failed(result: RunResult, operation: str, check: str) -> None:
    failed = {name for (label, name), (_, count) in result.results.checks.items() if label == operation and count}
    assert check in failed, f"expected {check} to fail for {operation}, got {failed}:\n{result.summary_text}"


def failure_of(result: RunResult, nodeid_part: str) -> str:
    failed = [o for o in result.results.outcomes.values() if o.outcome == "failed" and nodeid_part in o.nodeid]
    assert failed, f"no failed test matches {nodeid_part!r}:\n{result.summary_text}"
    return failed[0].detail


STATELESS_SEND = "test_operation and v1/messages]"
STATELESS_VERIFY = "test_operation and verifications"  # random message_ids: nearly every reply is 4001


def test_a_field_of_the_wrong_type_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    variant = only("send_otp", 200, lambda c, r: ApiReply(200, {**r.body, "message_id": int(r.body["message_id"])}))
    result = run_variant(tmp_path, capfd, variant, STATELESS_SEND)
    assert_check_failed(result, "POST /v1/messages", "response_schema_conformance")
    detail = failure_of(result, "POST /v1/messages")
    assert "is not of type \"string\"" in detail and "/components/schemas/MessageId" in detail
    assert "Reproduce with:" in result.summary_text and '-u "$OTP_DEV_KEY:$OTP_DEV_SECRET"' in result.summary_text


def test_a_missing_required_field_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    variant = only("send_otp", 200, lambda c, r: ApiReply(200, {"message_id": r.body["message_id"]}))
    result = run_variant(tmp_path, capfd, variant, STATELESS_SEND)
    assert_check_failed(result, "POST /v1/messages", "response_schema_conformance")
    assert "\"send_channel\" is a required property" in failure_of(result, "POST /v1/messages")


def test_an_undocumented_status_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    variant = only("verify_otp", 400, lambda c, r: ApiReply(404, r.body))
    result = run_variant(tmp_path, capfd, variant, STATELESS_VERIFY)
    label = "POST /v1/verifications"
    assert_check_failed(result, label, "status_code_conformance")
    detail = failure_of(result, label)
    assert "Undocumented status code" in detail and "Received: 404" in detail


def test_a_500_on_valid_input_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    def crash(context: Context) -> ApiReply | None:  # `before` only sees requests that passed validation
        if context.operation.operation_id == "send_otp":
            return ApiReply(500, {"code": 1000, "message": "internal server error"})
        return None
    result = run_variant(tmp_path, capfd, Variant(answer=crash), STATELESS_SEND)
    assert_check_failed(result, "POST /v1/messages", "not_a_server_error")
    assert "Server error" in failure_of(result, "POST /v1/messages")


def test_an_error_without_the_envelope_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    def strip(context: Context, reply: ApiReply) -> ApiReply:
        if reply.status == 400:
            return ApiReply(400, {"error": reply.body.get("message")})
        return reply
    result = run_variant(tmp_path, capfd, Variant(rewrite=strip), STATELESS_SEND)
    assert_check_failed(result, "POST /v1/messages", "response_schema_conformance")
    assert "\"code\" is a required property" in failure_of(result, "POST /v1/messages")


def test_invalid_input_accepted_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    def accept(context: Context) -> ApiReply | None:
        if context.operation.operation_id == "send_otp":
            return ApiReply(200, {"message_id": "1725407449772531712", "send_channel": "sms"})
        return None
    result = run_variant(tmp_path, capfd, Variant(answer=accept), STATELESS_SEND, validate_requests=False)
    assert_check_failed(result, "POST /v1/messages", "negative_data_rejection")
    detail = failure_of(result, "POST /v1/messages")
    assert "Schema-violating request accepted" in detail and "Invalid data should have been rejected" in detail


def test_a_verify_that_succeeds_twice_is_caught(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    def again(context: Context, reply: ApiReply) -> ApiReply:
        if reply.body.get("message") == "verify code already verified":
            sent = context.body  # the after hook sees the parsed body, also after a business error
            return ApiReply(200, {"message_id": sent["message_id"], "verify_code": sent["verify_code"],
                                  "verified": True})
        return reply
    result = run_variant(tmp_path, capfd, only("verify_otp", 400, again), "right_code")
    detail = failure_of(result, "test_right_code_verifies_once_then_3003")
    assert "a code verifies once: expected HTTP 400 with code 3003, got HTTP 200" in detail
    assert '"verified": true' in detail and "curl -s -X POST" in detail


def test_a_wrong_http_status_for_a_documented_code_is_caught(tmp_path: Path,
                                                             capfd: pytest.CaptureFixture[str]) -> None:
    def moved(context: Context, reply: ApiReply) -> ApiReply:
        is_4001 = isinstance(reply.body, dict) and reply.body.get("code") == 4001
        return ApiReply(403, reply.body) if is_4001 else reply
    result = run_variant(tmp_path, capfd, Variant(rewrite=moved), STATELESS_VERIFY)
    label = "POST /v1/verifications"
    assert_check_failed(result, label, "error_code_status")
    assert ("verify_otp answered code 4001 (not_found) with HTTP 403; the contract's catalogue (x-error-codes) "
            "says code 4001 comes with HTTP 400") in failure_of(result, label)


def test_failures_inside_link_driven_scenarios_are_reported(tmp_path: Path,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    variant = only("verify_otp", 200, lambda c, r: ApiReply(200, {**r.body, "verified": "yes"}))
    result = run_variant(tmp_path, capfd, variant, "stateful")
    detail = failure_of(result, "TestLinkedFlows")
    assert "distinct failure(s) in link-driven scenarios" in detail and "POST /v1/verifications" in detail
    assert "\"yes\" is not of type \"boolean\"" in result.summary_text
