"""The scenario checker: each broken file gets a precise message with file, line and column."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mockserver.contract import Contract
from mockserver.errors import ConfigError
from mockserver.scenarios.loader import load_file

ROOT = Path(__file__).resolve().parent.parent
HEAD = "name: broken\ndescription: a broken file\nrules:\n"
BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))


@pytest.fixture(scope="module")
def contract() -> Contract:
    return Contract.load(ROOT / "openapi.yaml")


@pytest.mark.parametrize(("text", "message"), [
    pytest.param(HEAD + "  - operation: send_otp\n    reply: {error: 3004\n", "rate.yaml:6:1: ", id="bad-yaml"),
    pytest.param(HEAD + "  - operation: sendOtp\n    reply: {error: 3004}\n",
                 "rate.yaml:4:16: unknown operation 'sendOtp'; did you mean 'send_otp'?", id="unknown-operation"),
    pytest.param(HEAD + "  - operation: verify_otp\n    reply: {status: 404, body: {code: 4001, message: x}}\n",
                 "rate.yaml:5:21: status 404 is not in the contract for verify_otp (documented: 200, 400, 401, 403, "
                 "500); use 'fault' for deliberate breakage", id="status-not-in-contract"),
    pytest.param(HEAD + "  - operation: send_otp\n    reply:\n      status: 200\n      body: {message_id: 42, "
                 "send_channel: sms}\n",
                 "rate.yaml:7:13: body does not match the contract's 200 reply of send_otp: message_id: expected a "
                 "string, got an integer (42)", id="body-not-matching-schema"),
    pytest.param(HEAD + "  - operation: verify_otp\n    reply: {error: 5013}\n",
                 "rate.yaml:5:20: error 5013 is not documented for verify_otp", id="error-not-for-operation"),
    pytest.param(HEAD + "  - operation: send_otp\n    reply: {error: 4242}\n",
                 "rate.yaml:5:20: error 4242 is not a documented code", id="undocumented-code"),
    pytest.param(HEAD + "  - operation: send_otp\n    delya: 2\n",
                 "rate.yaml:5:5: unknown key 'delya'; did you mean 'delay'?", id="unknown-key"),
    pytest.param(HEAD + "  - operation: send_otp\n    goto: dwon\n    reply: {error: 1000}\n",
                 "rate.yaml:5:11: unknown state 'dwon'; expected one of start (declare it under 'states')",
                 id="unknown-state"),
    pytest.param(HEAD + "  - operation: send_otp\n    reply: {error: 1000, fault: hang}\n",
                 "rate.yaml:5:12: a reply needs exactly one of error, status, fault or pass", id="two-replies"),
    pytest.param(HEAD + "  - operation: send_otp\n    reply: {fault: explode}\n",
                 "rate.yaml:5:20: rules[0].reply.fault: 'explode' is not one of connection_reset",
                 id="unknown-fault"),
    pytest.param(BOMB, "rate.yaml: more than 20000 values once aliases are expanded (an alias bomb?)",
                 id="alias-bomb"),
    pytest.param("name: !!python/object/apply:os.system [echo hacked]\ndescription: x\nrules: []\n",
                 "rate.yaml:1:7: could not determine a constructor for the tag "
                 "'tag:yaml.org,2002:python/object/apply:os.system'", id="python-tag"),
    pytest.param("description: no name\nrules: []\n", "rate.yaml:1:1: name: required field is missing",
                 id="missing-name"),
    pytest.param(HEAD + "  - operation: send_otp\n    reply: {status: 200, body: {message_id: '{{requst.body.x}}', "
                 "send_channel: sms}}\n", "rate.yaml:5:32: unknown expression {{requst.body.x}}", id="bad-template"),
])
def test_broken_files_get_precise_messages(tmp_path: Path, contract: Contract, text: str, message: str) -> None:
    path = tmp_path / "rate.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_file(path, contract, "rate.yaml")
    assert message in str(caught.value)


def test_a_python_tag_never_runs(tmp_path: Path, contract: Contract) -> None:
    marker = tmp_path / "ran"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\ndescription: x\nrules: []\n")
    with pytest.raises(ConfigError):
        load_file(path, contract)
    assert not marker.exists()


@pytest.mark.parametrize("path", sorted((ROOT / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path: Path, contract: Contract) -> None:
    scenario = load_file(path, contract)
    assert scenario.name == path.stem and scenario.description


def run_check(folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mockserver", "check", "--scenarios-dir", str(folder)],
                          capture_output=True, text=True, timeout=60)


def test_check_command_fails_on_a_broken_folder(tmp_path: Path) -> None:
    (tmp_path / "good.yaml").write_text("name: good\ndescription: fine\nrules: []\n", encoding="utf-8")
    (tmp_path / "rate.yaml").write_text(HEAD + "  - operation: sendOtp\n    reply: {error: 3004}\n", encoding="utf-8")
    result = run_check(tmp_path)
    assert result.returncode == 2
    assert "rate.yaml:4:16: unknown operation 'sendOtp'; did you mean 'send_otp'?" in result.stderr


def test_check_command_passes_on_the_shipped_library() -> None:
    result = run_check(ROOT / "scenarios")
    assert result.returncode == 0, result.stderr
    assert f"{len(list((ROOT / 'scenarios').glob('*.yaml')))} scenarios" in result.stdout


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / f"{name}.yaml").write_text("name: same\ndescription: x\nrules: []\n", encoding="utf-8")
    result = run_check(tmp_path)
    assert result.returncode == 2 and "scenario name 'same' is already used by" in result.stderr
