"""Certification (`otp-mock certify`): partner clients in subprocesses make real HTTP requests
over 127.0.0.1 to the session's served mock; the session is judged from the mock's journal and
written as a report package, which `certify verify` checks.

The sessions run once per module (a few seconds each) with a test profile whose slow reply
holds 3 s instead of 20 (`client-timeout` 1.5 s instead of 15)."""

from __future__ import annotations

import base64
import json
import shutil
import sys
import threading
import time
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from mockserver.certify.manifest import MANIFEST, SIGNATURE, load_public_key, new_key_files, verify
from mockserver.certify.report_schema import REPORT
from mockserver.cli import main
from mockserver.web.certify_run import Outcome, Request, certify

pytestmark = pytest.mark.served
ROOT = Path(__file__).resolve().parent.parent
CLIENTS = Path(__file__).parent / "certify_clients"
SHIPPED = ROOT / "scenarios" / "certification.yaml"
REAL_RECIPIENT = "+6591234567"  # the careless client's "real" number
CARELESS_FAILURES = {  # requirement -> (how many findings, what they say)
    "conformance.body": (3, ["the body is not valid JSON", "3002: template.id: expected a string"]),
    "behaviour.no-retry": (1, ["got 3002 (invalid_param), a non-retryable error, and was sent again"]),
    "behaviour.verify-attempts": (1, ["8 verify attempts on message"]),
    "behaviour.retry-backoff": (1, ["retried 5 times (at most 3)", "after less than 0.5 s"]),
    "behaviour.client-timeout": (1, ["it has no timeout"]),
}


def write_profile(folder: Path) -> Path:
    text = SHIPPED.read_text(encoding="utf-8")
    text = text.replace("hang_seconds: 20 ", "hang_seconds: 3  ").replace("max_seconds: 15 ", "max_seconds: 1.5")
    assert "hang_seconds: 3 " in text and "max_seconds: 1.5" in text
    path = folder / "profile.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def run_client(folder: Path, client: str, *args: str, signing_key: Path | None = None) -> Outcome:
    command = " ".join([sys.executable, str(CLIENTS / client), *args])
    return certify(Request(partner=f"{client} partner", profile=str(write_profile(folder)), run=command,
                           report_dir=folder / "report", signing_key=str(signing_key) if signing_key else None,
                           timeout=60))


@pytest.fixture(scope="module")
def well_behaved(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return run_client(tmp_path_factory.mktemp("well-behaved"), "well_behaved.py")


@pytest.fixture(scope="module")
def careless(tmp_path_factory: pytest.TempPathFactory,
             keys: tuple[Path, Path, Path]) -> tuple[Outcome, dict[str, str]]:
    folder = tmp_path_factory.mktemp("careless")
    outcome = run_client(folder, "careless.py", str(folder / "secrets.json"), signing_key=keys[0])
    return outcome, json.loads((folder / "secrets.json").read_text())


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("keys")
    new_key_files(folder / "certifier")
    new_key_files(folder / "other")
    return folder / "certifier", folder / "certifier.pub", folder / "other.pub"


@pytest.fixture(scope="module")
def idle(tmp_path_factory: pytest.TempPathFactory) -> Outcome:
    return run_client(tmp_path_factory.mktemp("idle"), "idle.py")


def results(outcome: Outcome) -> dict[str, str]:
    return {r.id: r.result for r in outcome.requirements}


# the well-behaved client ----------------------------------------------------------------------
def test_a_well_behaved_client_certifies_with_every_requirement_passing(well_behaved: Outcome) -> None:
    assert {k: v for k, v in results(well_behaved).items() if v != "PASSED"} == {}
    assert well_behaved.exit_code == 0 and well_behaved.report["result"] == "PASSED"
    assert well_behaved.report["summary"]["requests"] == 17


def test_every_required_case_is_in_the_shipped_profile() -> None:
    from mockserver.certify.profile import load_profile
    from mockserver.contract import Contract

    profile = load_profile(None, Contract.load())
    ids = {case.id for case in profile.cases}
    assert ids >= {"send-verify-success", "wrong-code", "expired-code", "already-verified", "resend-too-soon",
                   "unknown-template", "invalid-number", "server-error", "bad-credentials", "slow-response",
                   "connection-reset"}
    assert profile.version == "1.0.0" and all(case.section and case.trigger for case in profile.cases)


@pytest.mark.parametrize("fixture", ["well_behaved", "careless", "idle"])
def test_report_json_is_valid_against_its_schema(fixture: str, request: pytest.FixtureRequest) -> None:
    outcome = request.getfixturevalue(fixture)
    outcome = outcome[0] if isinstance(outcome, tuple) else outcome
    written = json.loads((outcome.folder / "report.json").read_text(encoding="utf-8"))
    schema = json.loads((outcome.folder / "report.schema.json").read_text(encoding="utf-8"))
    assert schema == REPORT
    jsonschema.Draft202012Validator(REPORT, format_checker=jsonschema.FormatChecker()).validate(written)
    for name in ("kit", "profile", "contract"):
        assert len(written[name]["sha256"]) == 64 and written[name]["version"]


# the careless client --------------------------------------------------------------------------
def test_a_careless_client_fails_with_exactly_its_five_findings(careless: tuple[Outcome, dict[str, str]]) -> None:
    outcome, _ = careless
    failed = {k for k, v in results(outcome).items() if v != "PASSED"}
    assert failed == set(CARELESS_FAILURES)
    assert outcome.exit_code == 1 and outcome.report["result"] == "FAILED"


@pytest.mark.parametrize("requirement", sorted(CARELESS_FAILURES))
def test_each_finding_of_the_careless_client_is_shown_with_its_requests(
        requirement: str, careless: tuple[Outcome, dict[str, str]]) -> None:
    report = careless[0].report
    row = next(r for r in report["requirements"] if r["id"] == requirement)
    assert row["result"] == "FAILED"
    count, said = CARELESS_FAILURES[requirement]
    assert row["findings_total"] == len(row["findings"]) == count
    text = " | ".join(f["text"] for f in row["findings"])
    for wanted in said:
        assert wanted in text
    assert row["records"] and all(str(i) in report["exchanges"] for i in row["records"])


def test_no_secret_or_real_recipient_is_in_any_report_file(careless: tuple[Outcome, dict[str, str]]) -> None:
    outcome, secrets = careless
    basic = secrets["authorization"].removeprefix("Basic ")
    forbidden = [secrets["dev_secret"], basic, REAL_RECIPIENT, REAL_RECIPIENT.removeprefix("+"), "%2B6591234567"]
    files = [p for p in outcome.folder.rglob("*") if p.is_file()]
    assert len(files) >= 7
    for path in files:
        text = path.read_text(encoding="utf-8")
        for value in forbidden:
            assert value not in text, f"{value!r} in {path.name}"
    evidence = (outcome.folder / "evidence" / "requests.jsonl").read_text(encoding="utf-8")
    assert "<recipient-1>" in evidence and "Basic ***" in evidence


# a client making no request, signing ----------------------------------------------------------
def test_a_client_making_no_request_fails_with_nothing_covered(idle: Outcome) -> None:
    rows = idle.report["requirements"]
    assert idle.exit_code == 1 and idle.report["summary"]["requests"] == 0
    assert all(r["result"] == "FAILED" for r in rows if r["group"] == "coverage")
    assert all(r["result"] == "SKIPPED" for r in rows if r["group"] in ("conformance", "behaviour"))
    suites = ET.parse(idle.folder / "junit.xml").getroot()
    assert suites.get("failures") == str(sum(1 for r in rows if r["group"] == "coverage"))
    assert suites.find("testsuite[@name='coverage']/testcase/failure") is not None
    html = (idle.folder / "report.html").read_text(encoding="utf-8")
    assert "<script" not in html and "http://" not in html.split("<body>")[0]


def test_an_unsigned_report_says_it_proves_integrity_not_authorship(well_behaved: Outcome) -> None:
    statement = well_behaved.report["signing"]["statement"]
    assert "integrity" in statement and "not who made it" in statement
    problems, notes = verify(well_behaved.folder, None)
    assert problems == [] and "not signed" in notes[0]


def test_a_signed_report_verifies_with_its_public_key_and_fails_with_another(
        careless: tuple[Outcome, dict[str, str]], keys: tuple[Path, Path, Path]) -> None:
    signed, (_, public, other) = careless[0], keys
    runner = CliRunner()
    good = runner.invoke(main, ["certify", "verify", str(signed.folder), "--public-key", str(public)])
    bad = runner.invoke(main, ["certify", "verify", str(signed.folder), "--public-key", str(other)])
    assert good.exit_code == 0, good.output
    assert bad.exit_code == 1 and "not by the --public-key given" in bad.output
    assert (signed.folder / SIGNATURE).is_file() and signed.report["signing"]["signed"] is True


def package_files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.parametrize("name", ["report.json", "report.schema.json", "report.html", "junit.xml",
                                  "evidence/requests.jsonl", "evidence/profile.yaml", MANIFEST, SIGNATURE])
def test_changing_one_byte_of_any_file_makes_verify_fail(name: str, careless: tuple[Outcome, dict[str, str]],
                                                         tmp_path: Path, keys: tuple[Path, Path, Path]) -> None:
    signed = careless[0].folder
    copy = tmp_path / "package"
    shutil.copytree(signed, copy)
    assert name in package_files(copy)
    path = copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    result = CliRunner().invoke(main, ["certify", "verify", str(copy), "--public-key", str(keys[1])])
    assert result.exit_code == 1 and "FAILED" in result.output
    assert verify(signed, load_public_key(str(keys[1])))[0] == []  # the original is untouched


def test_a_modified_copy_of_the_standard_profile_is_named_so_in_every_view_and_by_verify(
        well_behaved: Outcome) -> None:
    """The sessions here run a copy of the shipped profile with a shorter hang: same id and
    version, other bytes. No view may read as a pass against the standard."""
    from mockserver.certify.profile import shipped_sha256

    profile = well_behaved.report["profile"]
    assert profile["id"] == "engagelab-otp-standard" and profile["shipped"] is False
    assert profile["standing"].startswith("modified copy of engagelab-otp-standard")
    assert profile["sha256"] != shipped_sha256()
    html = (well_behaved.folder / "report.html").read_text(encoding="utf-8")
    summary = html.split('id="summary"')[1].split("</section>")[0]
    assert "modified copy of engagelab-otp-standard" in summary and profile["sha256"] in summary
    junit = ET.parse(well_behaved.folder / "junit.xml").getroot()
    props = {p.get("name"): p.get("value") for p in junit.iter("property")}
    assert props["profile_shipped"] == "false" and props["profile_standing"].startswith("modified copy")
    result = CliRunner().invoke(main, ["certify", "verify", str(well_behaved.folder), "--integrity-only"])
    assert "judged against profile engagelab-otp-standard 1.0.0" in result.output
    assert "NOT the standard profile this kit ships" in result.output


def test_a_file_added_to_the_package_makes_verify_fail(idle: Outcome, tmp_path: Path) -> None:
    copy = tmp_path / "package"
    shutil.copytree(idle.folder, copy)
    (copy / "evidence" / "extra.txt").write_text("planted")
    problems, _ = verify(copy, None)
    assert problems == ["evidence/extra.txt: in the package but not in the manifest"]


# the HTML report in a browser -----------------------------------------------------------------
def test_the_html_report_shows_its_summary_and_a_failures_evidence(
        careless: tuple[Outcome, dict[str, str]], page: Any) -> None:
    page.goto((careless[0].folder / "report.html").as_uri())
    assert page.locator("#result").inner_text() == "FAILED"
    summary = page.locator("#summary").inner_text()
    assert "17" in summary and "5" in summary and "engagelab-otp-standard" in summary
    failure = page.locator('[id="req-behaviour.retry-backoff"]')
    assert "retried 5 times (at most 3)" in failure.inner_text()
    evidence = failure.locator(".exchange").first.inner_text()
    assert "POST /v1/messages" in evidence and "code 1000" in evidence and "+12025550100" in evidence
    from axe_playwright_python.sync_playwright import Axe

    audit = Axe().run(page)
    assert audit.violations_count == 0, [v["id"] for v in audit.response["violations"]]


# serve-and-wait -------------------------------------------------------------------------------
def post(url: str, auth: tuple[str, str]) -> int:
    request = urllib.request.Request(url, data=b"{}", method="POST", headers={
        "Authorization": "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode(),
        "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as reply:  # noqa: S310 - loopback
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def test_serve_mode_prints_the_url_and_credentials_and_ends_on_the_end_route(tmp_path: Path) -> None:
    lines: list[str] = []
    done: list[Outcome] = []
    request = Request(partner="Served", report_dir=tmp_path / "report", duration=30)
    thread = threading.Thread(target=lambda: done.append(certify(request, lines.append)), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not any("End the session" in line for line in lines) and time.monotonic() < deadline:
        time.sleep(0.02)
    base = lines[0].rsplit(" ", 1)[1]
    dev_key = next(line for line in lines if "dev_key:" in line).split()[-1]
    secret = next(line for line in lines if "dev_secret:" in line).split()[-1]
    assert base.startswith("http://127.0.0.1:") and dev_key.startswith("certify-served-")
    assert post(base + "/v1/messages", (dev_key, secret)) == 400  # a real request of the session (3001: no body)
    assert post(base + "/_certify/end", (dev_key, "wrong")) == 401
    assert post(base + "/_certify/end", (dev_key, secret)) == 200
    thread.join(15)
    outcome = done[0]
    assert outcome.report["session"]["mode"] == "serve" and outcome.report["session"]["ended_by"] == "/_certify/end"
    assert outcome.report["summary"]["requests"] == 1
    assert secret not in (outcome.folder / "report.json").read_text()


# the command line -----------------------------------------------------------------------------
@pytest.mark.parametrize(("edit", "message"), [
    (("max_per_message: 5", "max_per_mesage: 5"), ":72:7: unknown key 'max_per_mesage'; did you mean "
                                                  "'max_per_message'?"),
    (("handled_by: [verify-attempts]", "handled_by: [verify-attempt]"), "did you mean 'verify-attempts'?"),
    (("    skips: []", "    skips: [{requirement: coverage.slow-respons, reason: x}]"),
     "no requirement 'coverage.slow-respons' in this profile; did you mean 'coverage.slow-response'?"),
    (("max_seconds: 15 ", "max_seconds: 25 "), "max_seconds must be below session.hang_seconds (20)"),
])
def test_a_broken_profile_is_refused_with_its_file_and_line(edit: tuple[str, str], message: str,
                                                            tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    assert edit[0] in text
    profile = tmp_path / "mine.yaml"
    profile.write_text(text.replace(edit[0], edit[1]), encoding="utf-8")
    result = CliRunner().invoke(main, ["certify", "--partner", "A", "--profile", str(profile), "--run", "true",
                                       "--report-dir", str(tmp_path / "report")])
    assert result.exit_code == 2 and f"{profile}:" in result.output and message in result.output
    assert not (tmp_path / "report").exists()


def test_certify_without_a_partner_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["certify"])
    assert result.exit_code == 2 and "--partner NAME is required" in result.output


def test_the_command_line_exits_0_only_when_every_requirement_passed(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["certify", "--partner", "Idle", "--run",
                                       f"{sys.executable} {CLIENTS / 'idle.py'}", "--report-dir",
                                       str(tmp_path / "r")])
    assert result.exit_code == 1 and "FAILED   coverage.send-verify-success" in result.output
    assert "Profile: engagelab-otp-standard 1.0.0, the shipped standard profile" in result.output
    assert (tmp_path / "r" / "report.html").is_file()


# stores, declarations, the README --------------------------------------------------------------
@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_on_a_shared_store_a_session_sees_only_its_own_requests(store: str, tmp_path: Path) -> None:
    from contextlib import ExitStack

    from redis_server import redis_server

    from mockserver.config import Settings

    with ExitStack() as stack:
        url = stack.enter_context(redis_server(tmp_path)) if store == "redis" else f"sqlite:{tmp_path / 'state.db'}"
        settings = Settings().replace(store=url)
        first = certify(Request(partner="Shared", profile=str(write_profile(tmp_path)), report_dir=tmp_path / "one",
                                run=f"{sys.executable} {CLIENTS / 'well_behaved.py'}", settings=settings))
        second = certify(Request(partner="Shared", report_dir=tmp_path / "two",
                                 run=f"{sys.executable} {CLIENTS / 'idle.py'}", settings=settings))
    assert first.exit_code == 0 and first.report["session"]["store"] == store
    assert first.report["summary"]["requests"] == 17 and second.report["summary"]["requests"] == 0
    assert url.split(":")[-1] not in (tmp_path / "one" / "report.json").read_text()  # the store's address stays out


def test_an_expired_report_fails_verify(idle: Outcome) -> None:
    problems, _ = verify(idle.folder, None, now=time.time() + 400 * 86400)
    assert problems == [f"the report expired on {idle.report['expires']}: certify again"]


def test_ctrl_c_ends_a_served_session_and_the_report_is_still_written(tmp_path: Path) -> None:
    import signal
    import subprocess

    otp_mock = Path(sys.executable).parent / "otp-mock"
    process = subprocess.Popen([str(otp_mock), "certify", "--partner", "Hand", "--report-dir", str(tmp_path / "r")],
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "serving the EngageLab OTP API at http://127.0.0.1:" in first
        for _ in range(5):  # the credentials and how to end the session
            process.stdout.readline()
        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[0]
    finally:
        process.kill()
    assert process.returncode == 1 and "Certification of Hand: FAILED" in rest
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["session"]["ended_by"] == "Ctrl-C"


def test_declared_skips_and_expected_failures_come_from_the_profile_alone(tmp_path: Path) -> None:
    from mockserver.certify.judge import judge_session
    from mockserver.certify.profile import profile_from_text
    from mockserver.certify.session import SessionOutcome
    from mockserver.contract import Contract

    contract = Contract.load()
    text = SHIPPED.read_text(encoding="utf-8").replace(
        "    skips: []", "    skips: [{requirement: coverage.connection-reset, reason: our library retries resets}]"
    ).replace("    failures: []", "    failures: [{requirement: coverage.slow-response, reason: ticket OPS-7}]")
    profile = profile_from_text(text, "mine.yaml", contract)
    found = {r.id: r for r in judge_session(profile, [], contract, SessionOutcome("run", 0.0, 1.0, "exit", 0))}
    skipped, expected = found["coverage.connection-reset"], found["coverage.slow-response"]
    assert skipped.result == "SKIPPED" and "our library retries resets" in skipped.verdict.reason
    assert skipped.declared == "skip" and skipped.judged == "FAILED"
    assert expected.result == "WARNING" and "ticket OPS-7" in expected.verdict.reason
    assert "mine.yaml:" in expected.verdict.reason  # where the profile declares it


def test_the_readme_section_names_every_flag_of_certify() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("## Certifying your integration", 1)[1].split("\n## ", 1)[0]
    from mockserver.cli import certify as command

    flags = [opt for param in command.params for opt in param.opts if opt.startswith("--")]
    assert "--signing-key" in flags
    for flag in flags:
        assert f"`{flag}" in section or f"{flag}" in section, flag
    for name in ("OTP_BASE_URL", "OTP_DEV_KEY", "OTP_DEV_SECRET", "certify verify", "certify keygen"):
        assert name in section


GOOD_AUTH = "Basic " + base64.b64encode(b"team-a:s3cret").decode()


@pytest.mark.parametrize(("aspect", "method", "path", "headers", "body", "problem"), [
    ("route", "POST", "/v1/nothing", {"Authorization": GOOD_AUTH}, b"{}", "no operation of the API has this path"),
    ("route", "DELETE", "/v1/messages", {"Authorization": GOOD_AUTH}, b"", "not allowed on this path"),
    ("auth", "GET", "/v1/template-configs", {}, b"", "no Authorization header"),
    ("auth", "GET", "/v1/template-configs", {"Authorization": "Bearer abc"}, b"", "does not use the Basic scheme"),
    ("auth", "GET", "/v1/template-configs", {"Authorization": "Basic %%%"}, b"", "malformed Basic credentials"),
    ("content-type", "POST", "/v1/messages", {"Authorization": GOOD_AUTH, "Content-Type": "text/plain"},
     b'{"to": "+12025550150", "template": {"id": "test-template-1"}}', "Content-Type 'text/plain'"),
    ("body", "POST", "/v1/verifications", {"Authorization": GOOD_AUTH, "Content-Type": "application/json"},
     b'{"message_id": "1"}', "3002"),
])
def test_each_conformance_aspect_lists_the_request_that_breaks_it(aspect: str, method: str, path: str,
                                                                  headers: dict[str, str], body: bytes,
                                                                  problem: str) -> None:
    """Through the mock object: a request, its journal record read back from the event stream."""
    from mockserver.certify import conformance
    from mockserver.certify.records import Record
    from mockserver.mock import OtpMock

    mock = OtpMock({"seed": 1})
    mock.handle(method, path, headers, body)
    events = mock.control.events(after=0, limit=100, types=["request"]).events
    records = [Record.of(event) for event in events]
    assert len(records) == 1
    verdict = conformance.judge(aspect, records, mock.contract)
    assert verdict.result == "FAILED" and problem in verdict.findings[0].text
    assert verdict.findings[0].records == (records[0].id,)
    others = [a for a in ("route", "auth", "content-type", "body") if a != aspect]
    assert all(conformance.judge(a, records, mock.contract).result == "PASSED" for a in others
               if not (aspect == "route" and a == "body"))


def record(seq: int, at: float, to: str, code: int | None = None, status: int = 200) -> Any:
    from mockserver.certify.records import Record

    body = json.dumps({"to": to, "template": {"id": "test-template-1"}})
    reply = json.dumps({"code": code, "message": "x"} if code else {"message_id": str(seq)})
    return Record(seq, at, at, "k", "POST", "/v1/messages", "", "send_otp", status, code, 1.0, {}, body, reply, None)


def behaviour_verdict(rule: str, records: list[Any]) -> Any:
    from mockserver.certify import behaviour
    from mockserver.certify.profile import load_profile
    from mockserver.contract import Contract

    contract = Contract.load()
    profile = load_profile(None, contract)
    return behaviour.judge(profile.behaviour[rule], records, contract, profile)


def test_eleven_sends_to_one_recipient_within_a_minute_are_a_flood() -> None:
    flood = [record(i, 100.0 + i * 5, "+12025550150") for i in range(11)]
    spread = [record(i, 100.0 + i * 7, "+12025550150") for i in range(11)]  # 70 s: at most 9 in any 60 s
    verdict = behaviour_verdict("send-flood", flood)
    assert verdict.result == "FAILED" and "11 sends to +12025550150 within 60 s" in verdict.findings[0].text
    assert behaviour_verdict("send-flood", spread).result == "PASSED"


def test_retries_whose_waits_shrink_are_a_warning_and_growing_ones_pass() -> None:
    def chain(starts: list[float]) -> list[Any]:
        return [record(i, at, "+12025550100", 1000, 500) for i, at in enumerate(starts)]

    shrinking = behaviour_verdict("retry-backoff", chain([0.0, 4.0, 5.0]))  # waits 4 s then 1 s
    growing = behaviour_verdict("retry-backoff", chain([0.0, 1.0, 3.0, 7.0]))
    assert shrinking.result == "WARNING" and "waits that shrink" in shrinking.findings[0].text
    assert growing.result == "PASSED"
