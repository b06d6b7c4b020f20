"""`otp-mock certify`: one certification session from start to report.

    profile -> session folder (keys file, scenario) -> OtpMock -> SessionServer on 127.0.0.1
    -> the partner's command (--run) or a wait (serve) -> the session's records, read from the
    mock's event stream through its ControlPlane -> judge -> report package (masked, manifest,
    optional signature)

    >>> outcome = certify(Request(partner="Acme", run="pytest tests/otp", report_dir=Path("out")))
    >>> outcome.exit_code
    0
"""

from __future__ import annotations

import re
import shlex
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from mockserver.certify import report as reports
from mockserver.certify import session as sessions
from mockserver.certify.judge import judge_session
from mockserver.certify.manifest import key_id, load_private_key
from mockserver.certify.masking import Masker, basic_value
from mockserver.certify.profile import SHIPPED, Profile, load_profile
from mockserver.certify.records import Record, session_records
from mockserver.certify.results import PASSED, Requirement, overall
from mockserver.config import Settings
from mockserver.contract import Contract
from mockserver.errors import ConfigError
from mockserver.mock import OtpMock
from mockserver.web.certify import END_PATH, SessionApp, SessionServer

DEFAULT_TIMEOUT = 600.0
Echo = Callable[[str], None]


@dataclass(frozen=True)
class Request:
    """What `otp-mock certify` was asked."""

    partner: str
    profile: str | None = None
    run: str | None = None
    report_dir: Path | None = None
    signing_key: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    duration: float | None = None
    port: int = 0
    settings: Settings = field(default_factory=Settings)


@dataclass(frozen=True)
class Outcome:
    report: dict[str, Any]
    folder: Path
    requirements: list[Requirement]

    @property
    def exit_code(self) -> int:
        return 0 if overall(self.requirements) == PASSED else 1


def command_of(run: str) -> tuple[str, ...]:
    try:
        argv = tuple(shlex.split(run))
    except ValueError as exc:
        raise ConfigError(f"--run: cannot split {run!r} into words: {exc}") from None
    if not argv:
        raise ConfigError("--run: expected a command, got nothing")
    return argv


def default_folder(partner: str, now: float) -> Path:
    slug = re.sub(r"[^a-z0-9]+", "-", partner.lower()).strip("-")[:40] or "partner"
    return Path("reports") / "certify" / f"{slug}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now))}"


def certify(request: Request, echo: Echo = lambda _: None) -> Outcome:
    """Run one session and write its report; ConfigError for anything wrong before it starts."""
    partner = sessions.check_partner(request.partner)
    contract = Contract.load(request.settings.spec_path)
    profile = load_profile(request.profile, contract)
    key = load_private_key(request.signing_key) if request.signing_key else None
    argv = command_of(request.run) if request.run is not None else ()
    folder = request.report_dir or default_folder(partner, time.time())
    made = not folder.exists()
    reports.check_folder(folder)
    try:
        return _certify(request, partner, contract, profile, key, argv, folder, echo)
    except BaseException:
        if made and folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()  # the folder made for a report that was never written
        raise


def _certify(request: Request, partner: str, contract: Contract, profile: Profile, key: Ed25519PrivateKey | None,
             argv: tuple[str, ...], folder: Path, echo: Echo) -> Outcome:
    keys = sessions.new_keys(partner)
    with tempfile.TemporaryDirectory(prefix="otp-mock-certify-") as private:
        keys_file, scenarios = sessions.prepare_folder(Path(private), keys, profile)
        mock = OtpMock(sessions.session_settings(request.settings, keys_file, scenarios, profile))
        try:
            outcome, records, base_url = _session(mock, keys, profile, request, argv, echo)
            judging = time.perf_counter()
            requirements = judge_session(profile, records, contract, outcome)
            package = reports.Package(partner, profile, contract, requirements, records, outcome, base_url,
                                      keys.dev_key, request.settings.store.split(":", 1)[0],
                                      time.perf_counter() - judging,
                                      key_id(key.public_key()) if key is not None else None)
            masker = _masker(keys, mock, records)
            try:
                written = reports.write(folder, package, masker, key, time.time())
            except OSError as exc:
                raise ConfigError(f"--report-dir {folder}: writing the report failed ({exc.strerror or exc}"
                                  f"{': ' + str(exc.filename) if exc.filename else ''}); the folder holds an "
                                  "incomplete package, which certify verify refuses: remove it and certify "
                                  "again") from None
        finally:
            mock.close()
    return Outcome(written, folder, requirements)


def _session(mock: OtpMock, keys: sessions.SessionKeys, profile: Profile, request: Request,
             argv: tuple[str, ...], echo: Echo) -> tuple[sessions.SessionOutcome, list[Record], str]:
    mock.scenarios.start()  # the profile's scenario; housekeeping rides on requests (no thread outlives the mock)
    head = sessions.stream_head(mock.control)
    stop = threading.Event()
    app = SessionApp(mock, keys, stop)
    server = SessionServer(app, request.port).start()
    started = time.time()
    status: int | None = None
    try:
        if argv:
            echo(f"Certification session at {server.base_url}: running {' '.join(argv)}")
            env = sessions.environment(server.base_url, keys, Path(request.profile) if request.profile else SHIPPED)
            ended_by, status = sessions.run_command(argv, env, request.timeout, stop)
        else:
            _announce(server.base_url, keys, profile, echo)
            ended_by = sessions.wait_served(stop, app.ended, request.duration)
    except KeyboardInterrupt:  # Ctrl-C between two steps: the session ends and is judged all the same
        ended_by = "interrupt" if argv else "Ctrl-C"
    finally:
        server.stop()
    events, lost = sessions.read_session(mock.control, head)
    records = session_records(events, keys.session_id, keys.dev_key, app.observations)
    outcome = sessions.SessionOutcome("run" if argv else "serve", started, time.time(), ended_by, status,
                                      request.timeout, app.served, lost, argv)
    return outcome, records, server.base_url


def _announce(base_url: str, keys: sessions.SessionKeys, profile: Profile, echo: Echo) -> None:
    echo(f"Certification session ({profile.id} {profile.version}) serving the EngageLab OTP API at {base_url}")
    echo(f"  dev_key:    {keys.dev_key}")
    echo(f"  dev_secret: {keys.dev_secret}")
    echo(f"  Authorization: Basic {basic_value(keys.dev_key, keys.dev_secret)}")
    echo(f"Drive your application against it; the cases are in {profile.source}.")
    echo(f"End the session with Ctrl-C, or: curl -X POST -u {keys.dev_key}:{keys.dev_secret} {base_url}{END_PATH}")


def _masker(keys: sessions.SessionKeys, mock: OtpMock, records: list[Record]) -> Masker:
    basic = basic_value(keys.dev_key, keys.dev_secret)
    recipients = [r for record in records for r in record.recipients()]
    return Masker([keys.dev_secret, basic, f"Basic {basic}", mock.control_token], recipients)
