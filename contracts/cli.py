"""`otp-mock contract`: check a server against openapi.yaml and write JUnit and Markdown reports.

    otp-mock contract                                   # the mock, in-process
    otp-mock contract --base-url http://127.0.0.1:8090  # a served mock (or any server)
    OTP_DEV_KEY=... OTP_DEV_SECRET=... otp-mock contract --base-url https://otp.api.engagelab.cc \\
        --allow-send-to +447700900123 --max-sends 5 --characterise
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from otp_mock_contracts.options import (
    DEFAULT_MAX_EXAMPLES,
    DEFAULT_MAX_SENDS,
    DEFAULT_REPORT_DIR,
    DEFAULT_TEMPLATE,
    OptionsError,
    RunOptions,
)

EXTRA_HINT = ("pip install 'otp-mock-kit[contract]' (from a package index), or pip install -e '.[contract]' "
              "in a clone of the kit (make test installs it there)")


@contextmanager
def scratch_hypothesis_home(configuration: Any) -> Iterator[None]:
    """Hypothesis's caches go to a scratch folder, not a `.hypothesis/` in the caller's directory."""
    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        yield
        return
    previous = vars(configuration).get("__hypothesis_home_directory")
    with tempfile.TemporaryDirectory(prefix="otp-contract-hypothesis-") as scratch:
        configuration.set_hypothesis_home_dir(scratch)
        try:
            yield
        finally:
            configuration.set_hypothesis_home_dir(previous)


@click.command("contract")
@click.option("--base-url", metavar="URL", help="Server to test (a served mock, staging, or the real API). "
              "Default: the mock, in-process.")
@click.option("--dev-key", envvar="OTP_DEV_KEY", metavar="KEY",
              help="API key [env OTP_DEV_KEY]. Default on a mock: a fresh key of this run.")
@click.option("--dev-secret", envvar="OTP_DEV_SECRET", metavar="SECRET",
              help="API secret [env OTP_DEV_SECRET; prefer it: flags show in the process list]. Never printed.")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_REPORT_DIR,
              show_default=True, help="Where junit.xml and summary.md go.")
@click.option("--allow-send-to", multiple=True, metavar="RECIPIENT",
              help="Repeatable. The only recipients sends may go to when the target is not the mock; "
                   "without it no send operation is called there.")
@click.option("--max-sends", type=click.IntRange(min=0), default=DEFAULT_MAX_SENDS, show_default=True,
              help="At most this many messages sent to a target that is not the mock.")
@click.option("--allow-template-writes", is_flag=True,
              help="Allow template create/delete on a target that is not the mock (ids with this run's prefix, "
                   "deleted at the end).")
@click.option("--characterise", is_flag=True,
              help="Also measure what the docs leave unknown (wrong attempts allowed, 3004 on /v1/codes).")
@click.option("--max-examples", type=click.IntRange(min=1), default=DEFAULT_MAX_EXAMPLES, show_default=True,
              help="Generated cases per operation (plus schemathesis's coverage cases).")
@click.option("--seed", type=int, help="Replay the generated cases of an earlier run.")
@click.option("--template-id", default=DEFAULT_TEMPLATE, show_default=True,
              help="Approved template for OTP sends when the target is not the mock.")
@click.option("-k", "--select", metavar="EXPRESSION", help="Only the tests matching this pytest -k expression.")
def contract(**flags: Any) -> None:
    """Check a server against the contract (openapi.yaml) with the contract suites.

    Exit code 0 only when nothing failed. Reports: junit.xml and summary.md in --report-dir.
    """
    try:  # the suites' dependencies are the `contract` extra; `otp-mock` itself works without them
        import hypothesis.configuration

        from otp_mock_contracts.runner import run_contract
        from otp_mock_contracts.target import TargetError
    except ImportError as exc:
        raise click.ClickException(f"the contract suites need the 'contract' extra ({exc}); install it with "
                                   f"{EXTRA_HINT}") from None
    try:
        options = RunOptions(allow_send_to=tuple(flags.pop("allow_send_to")), **flags)
    except OptionsError as exc:
        raise click.UsageError(str(exc)) from None
    with scratch_hypothesis_home(hypothesis.configuration):
        try:
            result = run_contract(options)
        except (OptionsError, TargetError) as exc:
            raise click.ClickException(str(exc)) from None
    if options.characterise:
        from otp_mock_contracts.report import characterisation_lines

        for line in characterisation_lines(result.results) or [
                f"Characterisation measured nothing; {result.summary} says why (\"Skipped\")"]:
            click.echo(line)
    verdict = "passed" if result.exit_code == 0 else "FAILED"
    click.echo(f"Contract run {options.run_id} {verdict}. Reports: {result.summary} and {result.junit}")
    sys.exit(result.exit_code)
