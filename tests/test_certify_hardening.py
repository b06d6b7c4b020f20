"""Certification hardened after a hostile review: the profile's standing, duplicate keys,
masking every spelling of a recipient or a secret, verify without tracebacks or terminal
escapes, linear masking, a report folder checked up front. Fast: no session is served here
(the served ones are in test_certify.py)."""

from __future__ import annotations

from pathlib import Path

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
