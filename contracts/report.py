"""The readable summary of a run (Markdown): each operation and check, each failure with a curl
command that reproduces it (credentials as `$OTP_DEV_KEY:$OTP_DEV_SECRET`), what was skipped and
why, what the safety guard refused, and what the characterisation tests measured."""

from __future__ import annotations

import re
import textwrap
from typing import TYPE_CHECKING

from otp_mock_contracts.checks import BUILTIN_CHECKS, CUSTOM_CHECKS

if TYPE_CHECKING:
    from otp_mock_contracts.results import Outcome, Results
    from otp_mock_contracts.run import ContractRun

SUMMARY_NAME = "summary.md"
JUNIT_NAME = "junit.xml"
MAX_DETAIL_LINES = 60
_CURL = re.compile(r"^\s*(curl\s.+)$", re.MULTILINE)
_GROUP_PREFIX = re.compile(r"^\s*\|\s?")
_SUB_EXCEPTIONS = re.compile(r"^\(\d+ sub-exceptions?\)$")
_FILTERED_AUTH = re.compile(r"-H '?Authorization: \[Filtered\]'?")
SUITES = {"test_stateless": "Stateless", "test_stateful": "Stateful (links)",
          "test_behaviour": "OTP behaviour", "test_characterise": "Characterisation"}


def curl_commands(text: str) -> list[str]:
    """The curl commands in a failure text, with a filtered Authorization made reproducible."""
    found = [_FILTERED_AUTH.sub('-u "$OTP_DEV_KEY:$OTP_DEV_SECRET"', m.group(1).strip()) for m in _CURL.finditer(text)]
    return list(dict.fromkeys(found))


def failure_text(text: str) -> str:
    """The readable part of a failure: pytest's `E` lines, or schemathesis's report, without tracebacks."""
    errors = textwrap.dedent("\n".join(line[1:] for line in text.splitlines()
                                       if line.startswith("E ") or line == "E")).strip()
    start = text.find("Schemathesis found")
    if errors or start == -1:
        return errors or text.strip()
    lines = [_GROUP_PREFIX.sub("", line) for line in text[start:].splitlines()]
    end = next((i for i, line in enumerate(lines) if _SUB_EXCEPTIONS.match(line.strip())), len(lines))
    return "\n".join(lines[:end]).strip()


def render_summary(run: ContractRun, exit_code: int, seconds: float) -> str:
    results = run.results
    verdict = "FAILED" if results.failed or exit_code != 0 else "PASSED"
    info = run.document.get("info", {})
    seed = f"; seed {run.seed} (`--seed {run.seed}` replays the generated cases)" if run.seed is not None else ""
    lines = [
        f"# Contract run {run.options.run_id}: {verdict}", "",
        f"- Target: {run.target.description}",
        f"- Contract: {info.get('title')} {info.get('version')} ({run.spec_path.name})",
        f"- Tests: {results.count('passed')} passed, {results.count('failed')} failed, "
        f"{results.count('error')} errors, {results.count('skipped')} skipped in {seconds:.1f} s "
        f"(exit code {exit_code})",
        f"- dev_key: `{run.dev_key}` (the secret is never written); max examples {run.options.max_examples}{seed}",
        f"- JUnit XML: `{JUNIT_NAME}` next to this file", "",
    ]
    lines += _operations(run) + _checks(run) + _suites(run) + _characterisation(run) + _safety(run)
    lines += _failures(run) + _skipped(run)
    return run.masker("\n".join(lines).rstrip() + "\n")


def _operations(run: ContractRun) -> list[str]:
    lines = ["## Operations (stateless and stateful requests)", "",
             "| operation | stateless test | responses by HTTP status | failed checks |", "|---|---|---|---|"]
    by_label = {o.name.partition("[")[2].rstrip("]"): o for o in run.results.outcomes.values()
                if o.nodeid.split("::")[0].endswith("test_stateless.py")}
    for label in _labels(run):
        outcome = by_label.get(label)
        statuses = run.results.statuses.get(label)
        shown = ", ".join(f"{s}: {n}" for s, n in sorted(statuses.items())) if statuses else "none"
        failed = [f"{check} ({counts[1]})" for (op, check), counts in sorted(run.results.checks.items())
                  if op == label and counts[1]]
        result = outcome.outcome if outcome else "not run"
        if outcome and outcome.outcome == "skipped":
            result = f"skipped: {outcome.detail}"
        lines.append(f"| `{label}` | {result} | {shown} | {', '.join(failed) or '-'} |")
    return [*lines, ""]


def _checks(run: ContractRun) -> list[str]:
    lines = ["## Checks", "", "| check | responses checked | failures |", "|---|---|---|"]
    for check in (*BUILTIN_CHECKS, *CUSTOM_CHECKS):
        counts = [c for (_, name), c in run.results.checks.items() if name == check]
        passed, failed = sum(c[0] for c in counts), sum(c[1] for c in counts)
        if check == "ignored_auth" and not run.target.checks_keys:
            lines.append(f"| `{check}` | off: this mock accepts any credentials (serve it with --keys-file to "
                         "check auth) | - |")
            continue
        lines.append(f"| `{check}` | {passed + failed} | {failed} |")
    return [*lines, ""]


def _suites(run: ContractRun) -> list[str]:
    lines: list[str] = []
    for module, title in SUITES.items():
        if module in ("test_stateless", "test_characterise"):
            continue
        rows = _in_module(run, module)
        if rows:
            lines += [f"## {title}", ""]
            log = run.results.stateful
            if module == "test_stateful" and log is not None:
                early = f"; Hypothesis stopped early ({log.stopped_early})" if log.stopped_early else ""
                lines += [f"{log.scenarios} scenarios, {log.steps} steps, {len(log.failures)} distinct "
                          f"failure(s){early}.", ""]
            lines += ["| test | result |", "|---|---|"]
            lines += [f"| `{o.name}` | {_result(o)} |" for o in rows] + [""]
    return lines


def _characterisation(run: ContractRun) -> list[str]:
    rows = _in_module(run, "test_characterise")
    lines = ["## Characterisation (unknowns of the real API)", ""]
    lines += [f"- `{o.name}`: {_result(o)}" for o in rows]
    measured = run.results.measurements
    if measured:
        lines += ["", "| quantity | measured |", "|---|---|"]
        lines += [f"| {name} | {value} |" for name, value in sorted(measured.items()) if name != "settings"]
        if "settings" in measured:
            lines += ["", f"Set the mock to match: `otp-mock serve {measured['settings']}`"]
    return [*lines, ""] if rows or measured else []


def characterisation_lines(results: Results) -> list[str]:
    """What `--characterise` measured, for the console: each value, then the `--set` flags that
    make the mock behave the same (the summary's "Characterisation" section, in short)."""
    measured = results.measurements
    lines = [f"Measured {name}: {value}" for name, value in sorted(measured.items()) if name != "settings"]
    if measured.get("settings"):
        lines.append(f"Set the mock to match: otp-mock serve {measured['settings']}")
    return lines


def _safety(run: ContractRun) -> list[str]:
    guard, options = run.guard, run.options
    lines = ["## Safety", ""]
    if run.target.is_mock:
        lines.append("- Target is the mock: sends and template writes are allowed.")
    else:
        allowed = ", ".join(options.allow_send_to) or "nobody (no send operation was called)"
        writes = f"allowed, prefix `{options.template_prefix}`" if options.allow_template_writes else "off"
        lines += [f"- Sends allowed to: {allowed}; sends made: {guard.sends} of at most {options.max_sends}",
                  f"- Template writes: {writes}"]
    lines += [f"- Refused, not sent ({count}x): {reason}" for reason, count in guard.refused.most_common()]
    cleanup = run.results.cleanup
    if cleanup is not None:
        problems = f"; problems: {'; '.join(cleanup.problems)}" if cleanup.problems else ""
        lines.append(f"- Cleanup: deleted {len(cleanup.deleted)} template(s) with prefix "
                     f"`{options.template_prefix}`{problems}")
    return [*lines, ""]


def _failures(run: ContractRun) -> list[str]:
    failed = [o for o in run.results.outcomes.values() if o.outcome in ("failed", "error")]
    if not failed:
        return []
    lines = ["## Failures", ""]
    for outcome in failed:
        text = failure_text(outcome.detail).splitlines()
        shown = "\n".join(text[:MAX_DETAIL_LINES]) + ("\n..." if len(text) > MAX_DETAIL_LINES else "")
        lines += [f"### {outcome.nodeid} ({outcome.outcome})", "", "```text", shown, "```", ""]
        commands = curl_commands(failure_text(outcome.detail))
        if commands:
            lines += ["Reproduce with:", "", "```sh", *commands[:5], "```", ""]
    return lines


def _skipped(run: ContractRun) -> list[str]:
    skipped = [o for o in run.results.outcomes.values() if o.outcome == "skipped"]
    if not skipped:
        return []
    return ["## Skipped", "", *[f"- `{o.nodeid}`: {o.detail}" for o in skipped], ""]


def _labels(run: ContractRun) -> list[str]:
    methods = ("get", "put", "post", "delete", "patch")
    return [f"{method.upper()} {path}" for path, item in run.document.get("paths", {}).items()
            for method in item if method in methods]


def _in_module(run: ContractRun, module: str) -> list[Outcome]:
    return [o for o in run.results.outcomes.values() if o.nodeid.split("::")[0].endswith(f"{module}.py")]


def _result(outcome: Outcome) -> str:
    if outcome.outcome == "passed":
        return "passed"
    text = (outcome.message or outcome.detail).strip()
    first = text.splitlines()[0] if text else ""
    return f"{outcome.outcome}: {first[:300]}"
