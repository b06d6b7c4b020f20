"""`otp-mock contract` end to end: against the mock in-process and against `otp-mock serve` over
loopback HTTP, with both reports written, secrets kept out of every output, and characterisation
measuring what the mock's settings say."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from otp_mock_contracts import RunOptions, run_contract
from otp_mock_contracts.checks import BUILTIN_CHECKS, CUSTOM_CHECKS
from otp_mock_contracts.cli import contract

ROOT = Path(__file__).resolve().parent.parent
SECRET = "Ci-s3cret-9d27f1"
KEY = "ci-contract"
OPERATIONS = ("POST /v1/messages", "POST /v1/codes", "POST /v1/verifications", "POST /v1/custom-messages",
              "POST /v1/template-configs", "GET /v1/template-configs", "GET /v1/template-configs/{templateId}",
              "DELETE /v1/template-configs/{templateId}")


def contract_command() -> list[str]:
    """`otp-mock contract`, as a user runs it (the same entry point as the console script)."""
    from mockserver import cli

    assert "contract" in cli.main.commands, "otp-mock has no contract command"
    return [sys.executable, "-m", "mockserver", "contract"]


def with_credentials() -> dict[str, str]:
    return {**os.environ, "OTP_DEV_KEY": KEY, "OTP_DEV_SECRET": SECRET, "PYTHONUNBUFFERED": "1"}


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert SECRET not in text, "the dev_secret leaked"
        assert "Y2ktY29udHJhY3Q6Q2ktczNjcmV0LTlkMjdmMQ==" not in text, "the Authorization value leaked"


def check_reports(folder: Path, target: str) -> str:
    """Both reports exist, agree that nothing failed, and list every operation and check."""
    suite = ET.parse(folder / "junit.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("tests", "0")) >= 20
    assert (suite.get("failures"), suite.get("errors")) == ("0", "0"), (folder / "summary.md").read_text()
    summary = (folder / "summary.md").read_text(encoding="utf-8")
    assert summary.startswith("# Contract run ") and ": PASSED" in summary.splitlines()[0]
    assert f"- Target: {target}" in summary
    for label in OPERATIONS:
        assert re.search(rf"\| `{re.escape(label)}` \| passed \| \d{{3}}: \d+", summary), label
    for check in (*BUILTIN_CHECKS, *CUSTOM_CHECKS):
        assert f"| `{check}` |" in summary, check
    assert "opt-in: pass --characterise" in summary  # skipped, with the reason in the report
    assert_no_secret(summary, (folder / "junit.xml").read_text(encoding="utf-8"))
    return summary


def test_contract_passes_against_the_in_process_mock_within_a_minute(tmp_path: Path) -> None:
    started = time.monotonic()
    done = subprocess.run([*contract_command(), "--report-dir", str(tmp_path)], capture_output=True, text=True,
                          env=with_credentials(), timeout=120, cwd=tmp_path)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert elapsed < 60, f"the in-process contract run took {elapsed:.1f} s; the budget is one minute"
    assert "passed. Reports:" in done.stdout
    summary = check_reports(tmp_path, "the mock, in-process")
    assert "| `ignored_auth` | 0 |" not in summary  # with a keys file, auth probes really ran
    assert_no_secret(done.stdout, done.stderr)


def start_served(log: Path, *args: str) -> tuple[subprocess.Popen[str], str]:
    """`otp-mock serve` on a free port; its request log goes to `log` (a pipe nobody reads would fill up)."""
    command = [sys.executable, "-m", "mockserver", "serve", "--port", "0", *args]
    with log.open("w", encoding="utf-8") as sink:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=sink, text=True,
                                   env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        found = re.search(r"OTP mock serving the EngageLab OTP API at (http://127\.0\.0\.1:\d+)",
                          process.stdout.readline())
        if found:
            return process, found.group(1)
        if process.poll() is not None:
            break
    process.kill()
    process.communicate(timeout=10)
    raise AssertionError(f"otp-mock serve did not start: {log.read_text(encoding='utf-8')[-2000:]}")


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    process, url = start_served(tmp_path / "serve.log", "--seed", "11")
    yield url, process
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=15)


@pytest.mark.served
def test_contract_passes_against_otp_mock_serve(tmp_path: Path, served: tuple[str, subprocess.Popen[str]]) -> None:
    url, process = served
    reports = tmp_path / "reports"
    done = subprocess.run([*contract_command(), "--base-url", url, "--report-dir", str(reports)],
                          capture_output=True, text=True, env=with_credentials(), timeout=180, cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    summary = check_reports(reports, f"{url} (the mock)")
    # Started without --keys-file, the mock accepts any credentials: the report says why the check is off.
    assert "| `ignored_auth` | off: this mock accepts any credentials" in summary
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=15)
    assert process.returncode == 0 and "OTP mock stopped." in out
    log = (tmp_path / "serve.log").read_text(encoding="utf-8")
    assert "POST /v1/verifications" in log  # the log really holds the run's requests
    assert_no_secret(done.stdout, done.stderr, out, log)


def test_characterise_measures_what_the_mock_is_set_to(tmp_path: Path) -> None:
    options = RunOptions(report_dir=tmp_path, characterise=True, select="characterise")
    settings = {"max_verify_attempts": 3, "resend_guard": "send_otp,send_custom_code"}
    result = run_contract(options, mock_settings=settings)
    assert result.exit_code == 0, result.summary_text
    assert result.results.measurements["max_verify_attempts"] == 3
    assert result.results.measurements["resend_guard.send_custom_code"] is True
    assert result.results.measurements["resend_guard.send_custom_message"] is False
    assert ("Set the mock to match: `otp-mock serve --set max_verify_attempts=3 "
            "--set resend_guard=send_otp,send_custom_code`") in result.summary_text
    properties = {p.get("name"): p.get("value") for p in ET.parse(result.junit).getroot().iter("property")}
    assert properties == {"max_verify_attempts": "3", "resend_guard.send_custom_code": "True",
                          "resend_guard.send_custom_message": "False"}


def test_suites_run_as_plain_pytest(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "pytest", "contracts", "-q",
                           "-k", "behaviour", "--contract-report-dir", str(tmp_path), "--contract-max-examples", "5"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120, env=with_credentials())
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert re.search(r"\b10 passed", done.stdout), done.stdout[-2000:]
    summary = (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert "| `test_expired_code_gives_3003` | passed |" in summary
    assert_no_secret(done.stdout, done.stderr, summary)


@pytest.mark.parametrize(("args", "message"), [
    (["--base-url", "ftp://example.com"], "expected http(s)://host[:port]"),
    (["--dev-key", "only-a-key"], "--dev-secret (or OTP_DEV_SECRET) is missing"),
    (["--allow-send-to", "12345"], "expected a phone number in international form"),
    (["--max-examples", "0"], "0 is not in the range x>=1"),
])
def test_bad_options_are_usage_errors(args: list[str], message: str) -> None:
    result = CliRunner().invoke(contract, args)
    assert result.exit_code == 2 and message in result.output, result.output


def test_an_unreachable_target_fails_with_a_hint(tmp_path: Path) -> None:
    result = CliRunner().invoke(contract, ["--base-url", "http://127.0.0.1:9", "--report-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot reach http://127.0.0.1:9" in result.output and "Is the server running" in result.output


def test_importing_the_command_is_cheap() -> None:
    """`otp-mock` registers the command at start-up; that must not load the suites' dependencies."""
    probe = ("import sys, otp_mock_contracts.cli; heavy = {'schemathesis', 'pytest', 'requests', 'hypothesis'}; "
             "print(sorted(heavy & set(sys.modules)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_characterise_prints_what_it_measured_and_the_flags_on_the_console(tmp_path: Path) -> None:
    result = CliRunner().invoke(contract, ["--characterise", "-k", "characterise", "--report-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output[-3000:]
    tail = result.output.splitlines()[-5:]  # after pytest's own output, before the verdict
    assert tail[:4] == ["Measured max_verify_attempts: 5", "Measured resend_guard.send_custom_code: False",
                        "Measured resend_guard.send_custom_message: False",
                        "Set the mock to match: otp-mock serve --set max_verify_attempts=5 --set resend_guard=send_otp"]
    assert tail[4].startswith("Contract run ") and " passed. Reports: " in tail[4]


def test_characterise_that_measured_nothing_says_where_the_reasons_are(tmp_path: Path) -> None:
    result = CliRunner().invoke(contract, ["--characterise", "-k", "resend_guard and nothing_matches",
                                           "--report-dir", str(tmp_path)])
    assert f"Characterisation measured nothing; {tmp_path / 'summary.md'} says why" in result.output, result.output
