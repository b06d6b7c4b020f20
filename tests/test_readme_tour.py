"""The README's tour, run as it is written: its shell block, pasted into bash against a served
mock, answers what its comments show (message ids, codes and times may differ)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import ROOT
from test_served import start, stop

pytestmark = pytest.mark.served
README_URL = "http://127.0.0.1:8090"
MARK = "<<<answer>>>"
_STRING = re.compile(r'("(?:[^"\\]|\\.)*")')


def tour_block() -> str:
    """The first shell block of the README's section "A tour with curl"."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## A tour with curl\n", 1)[1].split("\n## ", 1)[0]
    found = re.search(r"^```sh\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    assert found, "the README's tour has no ```sh block"
    return found.group(1)


def script_and_answers(block: str) -> tuple[str, list[str]]:
    """The block as a script that prints MARK where the README shows an answer, and the answers
    it shows (a comment that starts with `# {`, continued on lines that start with `#  `)."""
    lines, answers = [], []
    for line in block.splitlines():
        if line.startswith("# {"):
            answers.append(line[2:])
            lines.append(f"printf '\\n%s\\n' '{MARK}'")
        elif line.startswith("#  ") and answers and lines[-1].endswith(f"'{MARK}'"):
            answers[-1] += line[3:]
        else:
            lines.append(line)
    return "\n".join(lines) + "\n", answers


def answer_pattern(shown: str) -> re.Pattern[str]:
    """What an answer of the README matches: `...` stands for anything, digits inside JSON
    strings for any digits (ids, codes, times); everything else is literal."""
    shown = re.sub(r"\s+\(HTTP \d{3}\)$", "", shown)  # the status the comment adds; curl -s does not print it
    parts = []
    for token in _STRING.split(shown):
        if token.startswith('"'):
            parts.append(r"\d+".join(re.escape(piece) for piece in re.split(r"\d+", token)))
        else:
            parts.append(re.escape(token))
    return re.compile("".join(parts).replace(re.escape("..."), ".*"))


def test_the_tour_needs_nothing_but_curl_and_python() -> None:
    block = tour_block()
    assert block.count(README_URL) == 1, "the tour names the mock's address once, in MOCK="
    commands = "\n".join(line for line in block.splitlines() if not line.startswith("#"))
    assert not re.search(r"\bjq\b", commands), "the tour runs without jq"
    assert not re.search(r"<[a-z_ ]+>", block), "the tour has no placeholders to fill in by hand"
    _, answers = script_and_answers(block)
    assert len(answers) == 6


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None,
                    reason="the tour needs curl and bash (.ci/run installs curl)")
def test_the_readme_tour_runs_as_written() -> None:
    script, answers = script_and_answers(tour_block())
    process, url = start()
    try:
        done = subprocess.run(["bash", "-c", "set -euo pipefail\n" + script.replace(README_URL, url)],
                              capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONWARNINGS": "ignore"})
    finally:
        stop(process)
    assert done.returncode == 0, done.stderr
    got = [part.strip() for part in done.stdout.split(MARK)]
    assert got[-1] == "" and len(got) == len(answers) + 1, done.stdout
    for shown, answer in zip(answers, got, strict=False):
        assert answer_pattern(shown).fullmatch(answer), f"the README shows\n  {shown}\nthe mock answered\n  {answer}"
    first = re.search(r'"message_id":"(\d+)"', got[0])
    assert first and first[1] in got[1] and first[1] in got[2], got[:3]  # steps 2 and 3 are about step 1's message
