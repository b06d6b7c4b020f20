"""The pytest plugin of the suites: options, the run, fixtures, outcomes and the summary report.

`otp-mock contract` loads it with a run it prepared; `pytest contracts/` loads it through
`contracts/conftest.py` and builds the run from the `--contract-*` options:

    OTP_DEV_KEY=... OTP_DEV_SECRET=... pytest contracts/ --contract-base-url http://127.0.0.1:8090
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from otp_mock_contracts import runtime
from otp_mock_contracts.flows import Flows
from otp_mock_contracts.options import (
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_MAX_SENDS,
    DEFAULT_REPORT_DIR,
    OptionsError,
    RunOptions,
)
from otp_mock_contracts.report import SUMMARY_NAME, render_summary
from otp_mock_contracts.results import Outcome
from otp_mock_contracts.run import ContractRun
from otp_mock_contracts.target import TargetError

RUN_KEY = pytest.StashKey[ContractRun]()
OWNED_KEY = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("contract", "OTP contract suites (credentials: OTP_DEV_KEY, OTP_DEV_SECRET)")
    group.addoption("--contract-base-url", metavar="URL", help="Server to test; default: the mock in-process.")
    group.addoption("--contract-report-dir", metavar="DIR", default=str(DEFAULT_REPORT_DIR),
                    help="Where summary.md goes.")
    group.addoption("--contract-allow-send-to", metavar="RECIPIENT", action="append", default=[],
                    help="The only recipients sends may go to on a target that is not the mock.")
    group.addoption("--contract-max-sends", type=int, default=DEFAULT_MAX_SENDS, help="At most this many sends.")
    group.addoption("--contract-allow-template-writes", action="store_true",
                    help="Allow template create/delete (prefixed, cleaned up) on a target that is not the mock.")
    group.addoption("--contract-characterise", action="store_true", help="Measure what the docs leave unknown.")
    group.addoption("--contract-max-examples", type=int, default=DEFAULT_MAX_EXAMPLES)
    group.addoption("--contract-seed", type=int, default=None)
    group.addoption("--contract-template-id", default="test-template-1",
                    help="Template for OTP sends on a target that is not the mock.")


def options_from(config: pytest.Config) -> RunOptions:
    return RunOptions(
        base_url=config.getoption("contract_base_url"),
        dev_key=os.environ.get("OTP_DEV_KEY") or None, dev_secret=os.environ.get("OTP_DEV_SECRET") or None,
        report_dir=Path(config.getoption("contract_report_dir")),
        allow_send_to=tuple(config.getoption("contract_allow_send_to")),
        max_sends=config.getoption("contract_max_sends"),
        allow_template_writes=config.getoption("contract_allow_template_writes"),
        characterise=config.getoption("contract_characterise"),
        max_examples=config.getoption("contract_max_examples"), seed=config.getoption("contract_seed"),
        template_id=config.getoption("contract_template_id"),
    )


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    run = runtime.take_preset()
    owned = run is None
    if run is None:
        try:
            run = ContractRun.prepare(options_from(config))
        except (OptionsError, TargetError) as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[RUN_KEY] = run
    config.stash[OWNED_KEY] = owned
    runtime.activate(run)
    config.pluginmanager.register(OutcomeCollector(run), "contract-outcomes")


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(RUN_KEY, None)
    runtime.activate(None)
    if run is not None and config.stash.get(OWNED_KEY, False):
        run.close()


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    """Keep Hypothesis's base64 statistics out of junit.xml; the summary says what ran."""
    from _pytest.junitxml import xml_key

    xml = session.config.stash.get(xml_key, None)
    if xml is not None:
        xml.global_properties = [p for p in xml.global_properties if not p[0].startswith("hypothesis-statistics-")]


@pytest.fixture(scope="session")
def contract_run(pytestconfig: pytest.Config) -> ContractRun:
    """The run these suites belong to."""
    return pytestconfig.stash[RUN_KEY]


@pytest.fixture(scope="session")
def flows(contract_run: ContractRun) -> Flows:
    """Steps of the explicit tests (send, read a code, move time), skipping what the target cannot do."""
    return Flows(contract_run)


@pytest.fixture(scope="session", autouse=True)
def contract_cleanup(contract_run: ContractRun) -> Iterator[None]:
    """Delete this run's templates at the end of the session, whatever happened before."""
    yield
    contract_run.cleanup_templates()
    cleanup = contract_run.results.cleanup
    if cleanup is not None and cleanup.problems:
        pytest.fail("cleanup of this run's templates failed:\n" + "\n".join(cleanup.problems), pytrace=False)


class OutcomeCollector:
    """Records each item's outcome (masked) and writes the summary when the session ends."""

    def __init__(self, run: ContractRun) -> None:
        self.run = run
        self.started = time.monotonic()

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when != "call" and report.passed:
            return
        outcome = report.outcome if report.when == "call" or report.skipped else "error"
        detail, message = "", ""
        if report.skipped and isinstance(report.longrepr, tuple):
            detail = str(report.longrepr[2]).removeprefix("Skipped: ")
        elif report.failed:
            detail = report.longreprtext
            crash = getattr(report.longrepr, "reprcrash", None)
            message = str(getattr(crash, "message", "") or "")
        self.run.results.record_outcome(Outcome(report.nodeid, outcome, report.duration,
                                                self.run.masker(detail), self.run.masker(message)))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            text = self.run.masker(report.longreprtext)
            self.run.results.record_outcome(Outcome(report.nodeid or "collection", "error", 0.0, text, text[:300]))

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        folder = self.run.options.report_dir
        folder.mkdir(parents=True, exist_ok=True)
        text = render_summary(self.run, int(exitstatus), time.monotonic() - self.started)
        (folder / SUMMARY_NAME).write_text(text, encoding="utf-8")
