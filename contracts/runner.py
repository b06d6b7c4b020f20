"""Run the suites under pytest, in this process, and write the reports.

    >>> result = run_contract(RunOptions(report_dir=Path("reports/contract")))
    >>> result.exit_code, result.summary.name, result.junit.name
    (0, 'summary.md', 'junit.xml')

`app`, `mock_settings` and `interceptor` build the in-process target; the kit's own tests use
them to run the suites against deliberately broken variants of the mock.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from otp_mock_contracts import runtime
from otp_mock_contracts.masking import Masker, MaskingStream
from otp_mock_contracts.options import RunOptions
from otp_mock_contracts.report import JUNIT_NAME, SUMMARY_NAME
from otp_mock_contracts.results import Results
from otp_mock_contracts.run import ContractRun

PACKAGE = Path(__file__).resolve().parent
SUITES = PACKAGE / "suites"


@dataclass(frozen=True)
class RunResult:
    """How a run ended and where its reports are."""

    exit_code: int  # 0 only when nothing failed
    pytest_code: int
    summary: Path
    junit: Path
    results: Results
    run: ContractRun

    @property
    def summary_text(self) -> str:
        return self.summary.read_text(encoding="utf-8")


def pytest_args(options: RunOptions, extra: Sequence[str] = ()) -> list[str]:
    """The pytest command line of a run; no ini file of the caller's project applies."""
    args = [str(SUITES), "-p", "otp_mock_contracts.plugin", "-p", "no:cacheprovider", "-c", os.devnull,
            "--rootdir", str(PACKAGE), f"--junitxml={options.report_dir / JUNIT_NAME}",
            "-o", "junit_family=xunit2", "-o", "junit_suite_name=otp-contract", "-q", "-rfEs",
            "-W", "ignore::pytest.PytestAssertRewriteWarning"]
    if options.select:
        args += ["-k", options.select]
    return [*args, *extra]


def run_contract(options: RunOptions, *, app: Any = None, mock_settings: Mapping[str, Any] | None = None,
                 interceptor: Any = None, extra_args: Sequence[str] = ()) -> RunResult:
    """Prepare the target, run every suite, write `junit.xml` and `summary.md` to the report dir."""
    run = ContractRun.prepare(options, app=app, mock_settings=mock_settings, interceptor=interceptor)
    options.report_dir.mkdir(parents=True, exist_ok=True)
    _forget_suites()
    runtime.preset(run)
    try:
        with masked_output(run.masker):
            code = int(pytest.main(pytest_args(options, extra_args)))
    finally:
        runtime.preset(None)
        _forget_suites()
        run.close()
    files = [options.report_dir / JUNIT_NAME, options.report_dir / SUMMARY_NAME]
    run.masker.scrub_files(f for f in files if f.exists())
    exit_code = 0 if code == pytest.ExitCode.OK and not run.results.failed else 1
    return RunResult(exit_code, code, files[1], files[0], run.results, run)


@contextmanager
def masked_output(masker: Masker) -> Iterator[None]:
    """While the suites run, stdout and stderr never show the secret or its Authorization value."""
    saved = sys.stdout, sys.stderr
    sys.stdout = MaskingStream(saved[0], masker)
    sys.stderr = MaskingStream(saved[1], masker)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout, sys.stderr = saved


def _forget_suites() -> None:
    """Suite modules bind the run at import: drop them so the next run imports them afresh.
    pytest names them after their folders (`contracts.suites.test_stateless` in a clone,
    `otp_mock_contracts.suites...` when installed), so they are found by their files."""
    for name in [n for n, m in sys.modules.items() if ".suites." in n and _in_suites(m)]:
        del sys.modules[name]


def _in_suites(module: Any) -> bool:
    file = getattr(module, "__file__", None)
    return isinstance(file, str) and Path(file).resolve().parent == SUITES
