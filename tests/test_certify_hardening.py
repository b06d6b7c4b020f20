"""Certification hardened after a hostile review: the profile's standing, duplicate keys,
masking every spelling of a recipient or a secret, verify without tracebacks or terminal
escapes, linear masking, a report folder checked up front. Fast: no session is served here
(the served ones are in test_certify.py)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from mockserver.certify.profile import SHIPPED, load_profile, shipped_sha256
from mockserver.contract import Contract
from mockserver.errors import ConfigError

CONTRACT = Contract.load()


# 1. the profile's standing, duplicate keys -------------------------------------------------------
def test_the_shipped_profile_is_known_as_such_and_a_copy_with_its_id_is_not(tmp_path: Path) -> None:
    shipped = load_profile(None, CONTRACT)
    assert shipped.shipped and shipped.sha256 == shipped_sha256()
    assert shipped.standing == "the shipped standard profile engagelab-otp-standard"
    copy = tmp_path / "copy.yaml"
    copy.write_text(SHIPPED.read_text(encoding="utf-8"), encoding="utf-8")
    assert load_profile(copy, CONTRACT).shipped  # the same bytes elsewhere are still the standard
    weak = tmp_path / "weak.yaml"
    weak.write_text(SHIPPED.read_text(encoding="utf-8").replace("max_retries: 3", "max_retries: 100"),
                    encoding="utf-8")
    profile = load_profile(weak, CONTRACT)
    assert (profile.id, profile.version) == ("engagelab-otp-standard", "1.0.0") and not profile.shipped
    assert profile.standing.startswith("modified copy of engagelab-otp-standard")
    other = tmp_path / "other.yaml"
    other.write_text(SHIPPED.read_text(encoding="utf-8").replace("id: engagelab-otp-standard", "id: acme-own"),
                     encoding="utf-8")
    assert load_profile(other, CONTRACT).standing.startswith("custom profile")


def test_a_key_given_twice_in_a_profile_is_an_error_with_file_and_line(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if line.startswith("      max_retries: 3 "))
    lines.insert(at + 1, "      max_retries: 100\n")
    path = tmp_path / "dup.yaml"
    path.write_text("".join(lines), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_profile(path, CONTRACT)
    assert str(error.value).startswith(f"{path}:{at + 2}:7: duplicate key 'max_retries' (first at line {at + 1})")


def test_scenario_files_keep_yaml_last_wins() -> None:
    from mockserver import yamlsafe

    assert yamlsafe.load("a: 1\na: 2\n", "s.yaml")[0] == {"a": 2}
    with pytest.raises(ConfigError, match=r"s.yaml:2:1: duplicate key 'a'"):
        yamlsafe.load("a: 1\na: 2\n", "s.yaml", unique_keys=True)
    base = "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n"
    assert yamlsafe.load(base, "s.yaml", unique_keys=True)[0]["m"] == {"x": 1, "y": 2}


# 2. every spelling of a recipient or a secret is masked -----------------------------------------
SECRET = "s3cr3t-Value_0123456789abcdef"
DEV_KEY = "certify-acme-12345678"


def leak_records() -> list[dict[str, Any]]:
    """The requests of the review's leak.py, as evidence rows (what records.Record.as_json gives)."""
    basic = base64.b64encode(f"{DEV_KEY}:{SECRET}".encode()).decode()
    bodies = [
        json.dumps({"to": "+1 415 867 5309", "template": {"id": "test-template-1"}}),
        json.dumps({"to": "14158675310", "template": {"id": "test-template-1"}}),
        json.dumps({"to": "+14158675311", "template": {"id": "test-template-1"}}),
        '{"to": "14158675313", "email": "alice.real@gmail.com", "template": {"id": "test-template-1"},}',
        '{"to": "\\u002b14158675314", "template": {"id": "test-template-1"}}',
        json.dumps({"to": "+14158675315", "template": {"id": "test-template-1", "params": {
            "alt": "+1 (415) 867-5316", "digits": "4158675315", "mail": "bob@corp.de"}}}),
        json.dumps({"to": "+12025550150", "note": SECRET, "authz": f"Basic {basic}",
                    "b64": base64.b64encode(SECRET.encode()).decode(),
                    "b64url": base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("=")}),
        json.dumps({"to": "jöhn@exämple.de"}, ensure_ascii=False),
        json.dumps({"to": {"phone": "4158675321"}}),
        json.dumps({"to": ["+14158675320", "+442071838750"]}),
        json.dumps({"to": 14158675322}),
    ]
    rows = [{"id": i, "method": "POST", "path": "/v1/messages", "query": "", "headers": {}, "body": b,
             "reply": '{"message_id":"2127765750934802432","code":"123456"}'} for i, b in enumerate(bodies)]
    rows[2]["query"] = "to=%2b14158675311&phone=14158675312&k=" + SECRET.replace("-", "%2d")
    rows[6]["headers"] = {"X-Partner-Key": "prod-key-ABCDEF123456", "X-Debug": SECRET, "X-Other": "opaque-value",
                          "Authorization": "Bearer ***", "content-type": "application/json",
                          "X-Mock-Scenario": "certification", "user-agent": "acme/1.0"}
    rows.append({"id": 90, "method": "GET", "path": "/v1/messages/+14158675317", "query": "", "headers": {},
                 "body": None, "reply": None})
    rows.append({"id": 91, "method": "GET", "path": "/v1/messages/%2B14158675318", "query": "", "headers": {},
                 "body": None, "reply": None})
    return rows


REAL_NUMBERS = ["4158675309", "4158675310", "4158675311", "4158675312", "4158675313", "4158675314",
                "4158675315", "4158675316", "4158675317", "4158675318", "4158675320", "4158675321", "4158675322",
                "2071838750", "415) 867-5316", "415 867 5309"]


def test_every_form_of_the_leak_review_is_masked() -> None:
    from mockserver.certify.masking import Masker, basic_value

    rows = leak_records()
    recipients = ["+1 415 867 5309", "14158675310", "+14158675311", "+14158675315", "+14158675320",
                  "+442071838750", "jöhn@exämple.de", "+12025550150"]
    basic = basic_value(DEV_KEY, SECRET)
    masker = Masker([SECRET, basic, f"Basic {basic}"], recipients)
    out = json.dumps([masker.record(r) for r in rows], ensure_ascii=False)
    for number in REAL_NUMBERS:
        assert number not in out, number
    for secret in (SECRET, basic, base64.b64encode(SECRET.encode()).decode(),
                   base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="), "ABCDEF123456", "opaque-value",
                   "alice.real", "bob@corp", "jöhn", "%2d"):
        assert secret not in out, secret
    # the same recipient spelled differently reads as one; test data and ids stay readable
    body = masker.record(rows[0])["body"]
    assert "<recipient-1>" in body
    assert "<recipient-2>" in masker.record(rows[1])["body"]
    assert masker.record(rows[2])["query"].startswith("to=<recipient-3>&phone=<phone>&k=***")
    assert "<recipient-4>" in masker.record(rows[5])["body"] and "<phone>" in masker.record(rows[5])["body"]
    assert "+12025550150" in out and "2127765750934802432" in out and "123456" in out
    headers = masker.record(rows[6])["headers"]
    assert headers == {"X-Partner-Key": "***", "X-Debug": "***", "X-Other": "***", "Authorization": "Bearer ***",
                       "content-type": "application/json", "X-Mock-Scenario": "certification",
                       "user-agent": "acme/1.0"}


def test_the_kits_own_values_are_not_taken_for_phone_numbers() -> None:
    from mockserver.certify.masking import Masker

    masker = Masker([], ["+14158675309"])
    for text in ("2026-12-01T14:34:56Z", "2026-12-01 14:34:56", DEV_KEY, "http://127.0.0.1:45985", "1764600000.125",
                 "a" + "1234567" * 9, "0f8e1c2d-4123-8123-9e8f-123456789abc", "message 2127765750934802432",
                 "code 123456", "+12025550150", "+447700900123"):
        assert masker.text(text) == text, text
    assert masker.text("call 415-867-5309 or +1 (415) 867-5309!") == "call <phone> or <recipient-1>!"


def test_the_journal_masks_every_header_that_names_a_key_or_a_session() -> None:
    from mockserver.journal import mask_headers

    masked = mask_headers({"X-Partner-Key": "k", "X-Api-Key": "k", "X-Auth": "Bearer t", "X-Session-Id": "s",
                           "Content-Type": "application/json", "X-Mock-Scenario": "certification"})
    assert masked == {"X-Partner-Key": "***", "X-Api-Key": "***", "X-Auth": "Bearer ***", "X-Session-Id": "***",
                      "Content-Type": "application/json", "X-Mock-Scenario": "certification"}


# 3. verify: no traceback, no terminal escape ----------------------------------------------------
def package(folder: Path, files: dict[str, Any] | None = None) -> Path:
    from mockserver.certify.manifest import write_manifest

    folder.mkdir()
    (folder / "report.json").write_text("{}")
    write_manifest(folder, ["report.json"], {"expires": "2999-01-01T00:00:00Z", "created": "2026-01-01T00:00:00Z"},
                   None)
    if files is not None:  # a forged manifest, rewritten in its canonical form with its own digest
        import hashlib

        from mockserver.certify.manifest import MANIFEST, canonical

        data = json.loads((folder / MANIFEST).read_text())
        data.pop("manifest_sha256")
        data["files"].update(files)
        (folder / MANIFEST).write_bytes(canonical({**data, "manifest_sha256":
                                                   hashlib.sha256(canonical(data)).hexdigest()}))
    return folder


def verify_cli(*args: str) -> Any:
    from click.testing import CliRunner

    from mockserver.cli import main

    return CliRunner().invoke(main, ["certify", "verify", *args])


ESCAPE = "\x1b[2K\r\x1b[32mok: intact\x1b[0m"


@pytest.mark.parametrize(("name", "said"), [
    ("nul\x00byte", "nul\\x00byte: not a plain path inside the package"),
    (ESCAPE, "\\x1b[2K\\r\\x1b[32mok: intact\\x1b[0m: not a plain path inside the package"),
])
def test_verify_refuses_a_forged_name_in_one_clean_line(name: str, said: str, tmp_path: Path) -> None:
    result = verify_cli(str(package(tmp_path / "p", {name: {"sha256": "0" * 64, "bytes": 1}})), "--integrity-only")
    assert result.exit_code == 1
    assert f"FAILED: {said}" in result.output and "\x1b" not in result.output and "\x00" not in result.output


def test_verify_of_a_deeply_nested_manifest_is_a_failure_not_a_traceback(tmp_path: Path) -> None:
    folder = package(tmp_path / "p")
    (folder / "manifest.json").write_bytes(b"[" * 200_000 + b"]" * 200_000)
    result = verify_cli(str(folder), "--integrity-only")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "FAILED: manifest.json: cannot be read as JSON" in result.output


def test_an_unsupported_public_key_is_a_clean_error(tmp_path: Path) -> None:
    key = tmp_path / "k.pub"
    key.write_text("ssh-foo AAAAB3NzaC1yc2E= x\n")
    result = verify_cli(str(package(tmp_path / "p")), "--public-key", str(key))
    assert result.exit_code == 2 and "not a usable public key" in result.output and "Traceback" not in result.output


def test_an_empty_folder_added_to_the_package_makes_verify_fail(tmp_path: Path) -> None:
    folder = package(tmp_path / "p")
    (folder / "planted").mkdir()
    result = verify_cli(str(folder), "--integrity-only")
    assert result.exit_code == 1 and "FAILED: planted: in the package but not in the manifest" in result.output


def test_verify_without_a_public_key_warns_and_needs_integrity_only(tmp_path: Path) -> None:
    folder = package(tmp_path / "p")
    plain = verify_cli(str(folder))
    assert plain.exit_code == 2 and "WARNING: no --public-key: this checks integrity only" in plain.output
    assert "not verified" in plain.output
    accepted = verify_cli(str(folder), "--integrity-only")
    assert accepted.exit_code == 0 and "intact (integrity only)" in accepted.output
    assert "WARNING: no --public-key" in accepted.output


def test_the_summary_shows_control_characters_escaped(capsys: pytest.CaptureFixture[str]) -> None:
    from mockserver.cli import _summarise

    evil = "x\x1b]0;PWNED\x07\x1b[31mRED\x00"
    report = {"partner": evil, "result": "FAILED", "profile": {"id": "p", "version": "1.0.0", "standing": evil,
                                                               "sha256": "0" * 64},
              "summary": {"PASSED": 0, "FAILED": 1, "WARNING": 0, "SKIPPED": 0, "requests": 0},
              "requirements": [{"id": "coverage.x" + evil, "result": "FAILED", "reason": evil}]}
    _summarise(report, "out")
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out and "\\x1b]0;PWNED\\x07" in out


# 4. masking is linear: its cost does not grow with the session's recipients ---------------------
def test_masking_costs_the_same_with_one_recipient_or_a_thousand() -> None:
    import time

    from mockserver.certify.masking import Masker

    rows = [{"id": i, "body": json.dumps({"to": f"+1415867{i % 1000:04d}", "pad": "p 12 " * 400}),
             "headers": {"content-type": "application/json"}, "query": "", "path": "/v1/messages"}
            for i in range(300)]

    def cost(recipients: list[str]) -> float:
        masker = Masker(["s3cr3t-Value_0123456789abcdef"], recipients)
        started = time.perf_counter()
        out = [masker.record(r) for r in rows]
        assert "+1415867" not in json.dumps(out)
        return time.perf_counter() - started

    one = min(cost(["+14158670000"]) for _ in range(3))
    many = min(cost([f"+1415867{i:04d}" for i in range(1000)]) for _ in range(3))
    assert many < one * 3 + 0.05, (one, many)  # the masking it replaced took 14x longer here


# 5. the report folder up front, write errors, profile errors with a line, raw bytes in HTML ------
def test_a_report_folder_that_cannot_be_written_is_refused_before_the_session(tmp_path: Path) -> None:
    import sys

    from click.testing import CliRunner

    from mockserver.cli import main

    (tmp_path / "afile").write_text("x")
    marker = tmp_path / "ran"
    result = CliRunner().invoke(main, ["certify", "--partner", "A", "--run",
                                       f"{sys.executable} -c \"open({str(marker)!r}, 'w')\"",
                                       "--report-dir", str(tmp_path / "afile" / "report")])
    assert result.exit_code == 2 and "cannot write there" in result.output and not marker.exists()


def test_a_failure_while_writing_the_report_is_one_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mockserver.certify import report
    from mockserver.web.certify_run import Request, certify

    real = report._write

    def failing(path: Path, data: bytes) -> None:
        if path.name == "report.html":
            raise OSError(28, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(report, "_write", failing)
    with pytest.raises(ConfigError, match=r"writing the report failed \(No space left on device: .*report.html\); "
                                          "the folder holds an incomplete package"):
        certify(Request(partner="A", run="true", report_dir=tmp_path / "r", timeout=30))
    assert not (tmp_path / "r" / "manifest.json").exists()


def test_a_failed_session_leaves_no_empty_report_folder(tmp_path: Path) -> None:
    from mockserver.web.certify_run import Request, certify

    with pytest.raises(ConfigError, match="cannot start"):
        certify(Request(partner="A", run="/nonexistent/command", report_dir=tmp_path / "r", timeout=30))
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(("edit", "where", "said"), [
    (('version: "1.0.0"', "version: 2024-13-45"), ":{line}:12:", "a value YAML reads as a date or number is not one"),
    (('version: "1.0.0"', 'version: "1.0.0\x00"'), ":{line}:18:", "character U+0000 is not allowed in YAML"),
    (('version: "1.0.0"', 'version: "1.0.0\xe9"'), ":{line}:18:", "is not UTF-8 text (byte 0xe9"),
])
def test_profile_errors_name_their_line_and_column(edit: tuple[str, str], where: str, said: str,
                                                   tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    line = text[:text.index(edit[0])].count("\n") + 1
    path = tmp_path / "p.yaml"
    data = text.replace(edit[0], edit[1]).encode("utf-8")
    path.write_bytes(data.replace("\xe9".encode(), b"\xe9"))
    with pytest.raises(ConfigError) as error:
        load_profile(path, CONTRACT)
    assert str(error.value).startswith(f"{path}{where.format(line=line)}") and said in str(error.value)


def test_an_empty_profile_is_an_error_at_its_first_line(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError, match=r"empty.yaml:1:1: the file is empty"):
        load_profile(path, CONTRACT)


def test_the_html_report_shows_control_characters_escaped() -> None:
    from mockserver.certify import html

    assert html.escape("a\x00b\x1b[31m<i>\u202e\nz") == "a\\x00b\\x1b[31m&lt;i&gt;\\u202e\nz"
    source = Path(html.__file__).read_text(encoding="utf-8")
    assert "from html import escape" not in source  # every value goes through html.escape above


# 6. the standard profile after pip install ------------------------------------------------------
def test_certify_profile_prints_the_shipped_profile_byte_for_byte(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from mockserver.cli import main

    printed = CliRunner().invoke(main, ["certify", "profile"])
    assert printed.exit_code == 0 and printed.output == SHIPPED.read_text(encoding="utf-8")
    saved = tmp_path / "certification.yaml"
    saved.write_text(printed.output, encoding="utf-8")
    assert load_profile(saved, CONTRACT).shipped
    where = CliRunner().invoke(main, ["certify", "profile", "--path"])
    assert where.exit_code == 0 and Path(where.output.strip()) == SHIPPED
