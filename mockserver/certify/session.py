"""A certification session: its own dev_key and secret, a private folder with the keys file and
the profile's scenario, the settings of the mock that serves it, the partner's command run with
the URL and credentials in its environment (or a wait until the partner ends it), and the
journal's records read back.

Every wait is bounded: a command by `--timeout`, a served session by `--duration` or by
MAX_SESSION_SECONDS, reading the stream by the number of pages `max_events` can fill.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import yaml

from mockserver.certify.profile import Profile
from mockserver.config import Settings
from mockserver.control import ControlPlane
from mockserver.errors import ConfigError
from mockserver.events import StreamEvent
from mockserver.store.base import MAX_READ

MAX_SESSION_SECONDS = 24 * 3600.0
SESSION_EVENTS = 20_000  # records the session's stream keeps (a session needs a few hundred)
SESSION_BODY_LIMIT = 8192  # characters of each body the journal keeps: any valid OTP request fits
STOP_GRACE = 5.0  # s between SIGTERM and SIGKILL of a command that overran --timeout
MAX_PARTNER = 100


@dataclass(frozen=True)
class SessionKeys:
    """Who the session is: an id for its tags, and the dev_key and secret of its client."""

    session_id: str
    dev_key: str
    dev_secret: str

    def __repr__(self) -> str:  # never print the secret
        return f"SessionKeys(session_id={self.session_id!r}, dev_key={self.dev_key!r})"


@dataclass(frozen=True)
class SessionOutcome:
    """How the session went, besides its records."""

    mode: str  # "run" or "serve"
    started: float
    ended: float
    ended_by: str  # exit, timeout, interrupt, the end call, duration
    exit_status: int | None = None
    timeout: float = 0.0
    served: int = 0  # API requests the session's server answered
    lost: int = 0  # records of the session the stream let go before they were read
    command: tuple[str, ...] = ()


def check_partner(name: str) -> str:
    name = name.strip()
    if not 1 <= len(name) <= MAX_PARTNER or not name.isprintable():
        raise ConfigError(f"--partner: expected a name of 1 to {MAX_PARTNER} printable characters, got {name[:40]!r}")
    return name


def new_keys(partner: str) -> SessionKeys:
    slug = re.sub(r"[^a-z0-9]+", "-", partner.lower()).strip("-")[:40] or "partner"
    session_id = secrets.token_hex(8)
    return SessionKeys(session_id, f"certify-{slug}-{session_id[:8]}", secrets.token_urlsafe(24))


def prepare_folder(folder: Path, keys: SessionKeys, profile: Profile) -> tuple[Path, Path]:
    """The session's keys file (readable by its owner only) and scenario folder, in `folder`."""
    keys_file = folder / "keys.yaml"
    fd = os.open(keys_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        yaml.safe_dump({"keys": [{"dev_key": keys.dev_key, "dev_secret": keys.dev_secret}]}, out)
    scenarios = folder / "scenarios"
    scenarios.mkdir()
    (scenarios / "certification-profile.yaml").write_text(profile.text, encoding="utf-8")
    return keys_file, scenarios


def session_settings(base: Settings, keys_file: Path, scenarios: Path, profile: Profile) -> Settings:
    """The settings of the session's mock: the session's key only, the profile's scenario, a
    journal that keeps whole bodies, the profile's hang."""
    return base.replace(keys_file=str(keys_file), scenarios_dir=str(scenarios), scenario=profile.scenario.name,
                        hang_seconds=profile.hang_seconds, journal_body_limit=max(base.journal_body_limit,
                                                                                  SESSION_BODY_LIMIT),
                        max_events=max(base.max_events, SESSION_EVENTS), magic_values=True)


def environment(base_url: str, keys: SessionKeys, profile_file: Path) -> dict[str, str]:
    """What a command run with --run finds in its environment (besides the caller's own)."""
    return {
        "OTP_BASE_URL": base_url, "OTP_DEV_KEY": keys.dev_key, "OTP_DEV_SECRET": keys.dev_secret,
        "OTP_MOCK_URL": f"{base_url}/_mock", "OTP_CERTIFY_END_URL": f"{base_url}/_certify/end",
        "OTP_CERTIFY_PROFILE": str(profile_file),
    }


def run_command(argv: Sequence[str], env: dict[str, str], timeout: float,
                stop: threading.Event) -> tuple[str, int | None]:
    """Run the partner's command in a process group of its own; (how it ended, exit status).
    A command that overruns `timeout` or a session interrupted is stopped, the whole group."""
    try:
        process = subprocess.Popen(list(argv), env={**os.environ, **env}, start_new_session=True)  # noqa: S603
    except OSError as exc:
        raise ConfigError(f"--run: cannot start {argv[0]!r}: {exc.strerror}") from None
    deadline = time.monotonic() + timeout
    ended_by = "exit"
    try:
        while process.poll() is None:
            if stop.is_set():
                ended_by = "interrupt"
                break
            if time.monotonic() >= deadline:
                ended_by = "timeout"
                break
            stop.wait(min(0.05, max(0.0, deadline - time.monotonic())))
    except KeyboardInterrupt:
        ended_by = "interrupt"
    if process.poll() is None:
        _stop_group(process)
    return ended_by, process.returncode if ended_by == "exit" else None


def _stop_group(process: subprocess.Popen[bytes]) -> None:
    for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def wait_served(stop: threading.Event, ended: list[str], duration: float | None) -> str:
    """Wait until the session is ended (the end call sets `stop` and says why in `ended`),
    `duration` passes, or Ctrl-C; at most MAX_SESSION_SECONDS."""
    limit = min(duration if duration is not None else MAX_SESSION_SECONDS, MAX_SESSION_SECONDS)
    deadline = time.monotonic() + limit
    try:
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return "the --duration ran out" if duration is not None else "the session's 24 h limit"
            stop.wait(min(left, 0.5))
    except KeyboardInterrupt:
        return "Ctrl-C"
    return ended[0] if ended else "a signal"


def read_session(control: ControlPlane, after: int) -> tuple[list[StreamEvent], int]:
    """The request records appended after cursor `after`, and how many records after it the
    stream had already let go (its retention, max_events)."""
    found: list[StreamEvent] = []
    lost = 0
    cursor = after
    for page_number in range(control.store.policy.max_events // MAX_READ + 2):  # bounded: what the stream holds
        page = control.events(after=cursor, limit=MAX_READ, types=["request"])
        if page_number == 0 and page.oldest > after + 1 and page.head > after:
            lost = page.oldest - after - 1
        found.extend(page.events)
        if not page.events or page.next <= cursor:
            break
        cursor = page.next
    return found, lost


def stream_head(control: ControlPlane) -> int:
    """The stream's newest record now: the session's records come after it."""
    return control.events(after=0, limit=1).head
