"""Settings: a frozen dataclass filled from defaults < a YAML file < OTP_MOCK_* env < overrides."""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from mockserver import yamlsafe
from mockserver.errors import ConfigError

log = logging.getLogger("mockserver")
VALIDATE_MODES = ("off", "log", "raise")
REVIEW_MODES = ("approve", "pending")
ENV_PREFIX = "OTP_MOCK_"
RENAMED = {"journal_size": "max_events"}  # old name -> new name: still accepted, with a warning


@dataclass(frozen=True)
class Settings:
    """Everything the mock can be told. Each default is documented in the README."""

    host: str = "127.0.0.1"
    allowed_hosts: tuple[str, ...] = ()  # Host names the control plane answers to, beyond loopback and `host`
    control_token: str | None = None  # required by the control plane; made up at start when one is needed
    control_origins: tuple[str, ...] = ()  # browser origins that may change the mock, beyond loopback ones
    cors_origins: tuple[str, ...] = ("*",)  # browser origins that may call the API: "*" any, "off" none
    prices: tuple[str, ...] = ("sms=0.0060", "whatsapp=0.0040", "voice=0.0150", "email=0.0005")  # USD estimates
    port: int = 8090
    threads: int = 8
    worker_threads: int = 1  # per worker process with --workers: the SQLite mock is fastest with one
    seed: int | None = None
    spec_path: str | None = None
    keys_file: str | None = None
    templates_file: str | None = None
    # scenarios
    scenarios_dir: str | None = None
    scenario: str | None = None
    magic_values: bool = True
    max_delay_seconds: float = 60.0
    hang_seconds: float = 30.0
    delivery_delay_seconds: float = 0.0  # virtual seconds between "sent" and "delivered"
    # behaviours the real API leaves unknown
    max_verify_attempts: int = 5
    resend_guard: tuple[str, ...] = ("send_otp",)
    template_review: str = "approve"
    verify_custom_codes: bool = False
    # limits
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    max_events: int = 10_000  # records the event stream keeps (the journal's requests among them)
    journal_body_limit: int = 4096  # characters of a request's and a reply's body the journal keeps
    retention_seconds: float = 3600.0
    max_messages: int = 100_000
    max_tenants: int = 10_000
    max_progress: int = 10_000  # scenario x dev_key progress records
    max_recipients: int = 100  # recipients of one custom message
    max_message_bytes: int = 16_384  # a message's rendered text, subject and params, in UTF-8 bytes
    max_key_bytes: int = 33_554_432  # what one dev_key's stored messages may hold (32 MiB)
    max_templates: int = 200  # templates of one dev_key, the starting ones included
    max_scenario_keys: int = 1000  # dev_keys with a scenario of their own
    housekeeping_seconds: float = 1.0  # purge and caps run at most this often per process
    store: str = "memory"  # or sqlite:PATH (durable, shared by processes)
    # callbacks (webhooks): what EngageLab does not document is a setting with a default
    callback_url: str | None = None  # everyone's callback URL (a dev_key's own, set at run time, wins)
    callback_username: str | None = None  # with callback_secret: the X-CALLBACK-ID signature
    callback_secret: str | None = None
    callback_authorization: str | None = None  # sent verbatim as the Authorization header
    callbacks_file: str | None = None  # YAML: dev_key (or "*" for everyone) -> url, username, secret...
    callback_targets: str = "private"  # where callbacks may go: loopback, private (networks) or any
    callback_timeout_seconds: float = 3.0  # one attempt's whole exchange (EngageLab's URL check: 3 s)
    callback_retry_seconds: tuple[str, ...] = ("5", "30", "300", "1800", "7200")  # real-time delays of retries
    callback_batch_size: int = 100  # rows in one envelope at most
    callback_linger_seconds: float = 0.2  # how often a process routes new events into envelopes
    max_deliveries: int = 10_000  # callback deliveries the log keeps
    # checking the mock itself
    validate_responses: str = "log"
    validate_requests: bool = True  # off only for deliberately broken mocks (drift tests)
    log_requests: bool = True  # one log line per request from otp-mock serve

    def __post_init__(self) -> None:
        _one_of("validate_responses", self.validate_responses, VALIDATE_MODES)
        _one_of("template_review", self.template_review, REVIEW_MODES)
        for name in ("max_verify_attempts", "max_body_bytes", "max_json_depth", "max_events",
                     "journal_body_limit", "max_messages", "max_tenants", "max_progress", "threads",
                     "worker_threads", "max_recipients", "max_message_bytes", "max_key_bytes", "max_templates",
                     "max_scenario_keys", "callback_batch_size", "max_deliveries"):
            if getattr(self, name) < 1:
                raise ConfigError(f"setting {name}: expected a positive number, got {getattr(self, name)}")
        for name in ("retention_seconds", "max_delay_seconds", "hang_seconds", "delivery_delay_seconds",
                     "housekeeping_seconds", "callback_linger_seconds"):
            value = getattr(self, name)
            if not math.isfinite(value) or value < 0:
                raise ConfigError(f"setting {name}: expected a finite number of seconds >= 0, got {value}")
        for origin in self.cors_origins:
            if origin not in ("*", "off") and not origin.startswith(("http://", "https://")):
                raise ConfigError(f"setting cors_origins: expected '*', 'off' or origins such as "
                                  f"http://localhost:5173, got {origin!r}")
        price_table(self.prices)
        _one_of("callback_targets", self.callback_targets, ("loopback", "private", "any"))
        if not (math.isfinite(self.callback_timeout_seconds) and 0 < self.callback_timeout_seconds <= 60):
            raise ConfigError(f"setting callback_timeout_seconds: expected seconds from 0 to 60, "
                              f"got {self.callback_timeout_seconds}")
        if self.callback_batch_size > 1000:
            raise ConfigError(f"setting callback_batch_size: expected at most 1000, got {self.callback_batch_size}")
        retry_schedule(self.callback_retry_seconds)
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"setting port: expected 0..65535, got {self.port}")

    @classmethod
    def load(
        cls,
        file: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Settings from a YAML file, then `OTP_MOCK_*` variables, then explicit overrides."""
        values: dict[str, Any] = {}
        if file:
            values.update(_read_file(Path(file)))
        values.update(_known(_from_env(os.environ if env is None else env)))
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_mapping(values)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], where: str = "settings") -> Settings:
        known = {f.name: f for f in fields(cls)}
        converted = {}
        for key, value in values.items():
            if key in RENAMED and RENAMED[key] not in values:
                log.warning("%s: setting %r is now called %r", where, key, RENAMED[key])
                key = RENAMED[key]
            if key not in known:
                raise ConfigError(f"{where}: unknown setting {key!r}{_suggest(key, known)}")
            converted[key] = _convert(key, value, known[key].type)
        return cls(**converted)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)


MAX_RETRIES, MAX_RETRY_DELAY = 20, 86400.0


def retry_schedule(values: tuple[str, ...]) -> tuple[float, ...]:
    """The delays (real seconds) before each retry of a failed callback: at most 20, each at
    most a day; an empty schedule makes one attempt only."""
    try:
        delays = tuple(float(v) for v in values)
    except ValueError:
        raise ConfigError(f"setting callback_retry_seconds: expected numbers of seconds, got {values!r}") from None
    if len(delays) > MAX_RETRIES or not all(math.isfinite(d) and 0 <= d <= MAX_RETRY_DELAY for d in delays):
        raise ConfigError(f"setting callback_retry_seconds: expected at most {MAX_RETRIES} delays of 0 to "
                          f"{int(MAX_RETRY_DELAY)} s, got {values!r}")
    return delays


def _read_file(path: Path) -> dict[str, Any]:
    data = yamlsafe.read(path, "settings file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of setting names to values")
    kinds = {f.name: str(f.type) for f in fields(Settings)}
    for name, value in data.items():  # a file has types: "false" in quotes is a string, not false
        if kinds.get(name, "").startswith("bool") and not isinstance(value, bool):
            raise ConfigError(f"{path}: setting {name}: expected true or false (unquoted), got {value!r}")
    return data


def _known(values: dict[str, str]) -> dict[str, str]:
    """Environment variables of other tools may share the prefix: ignore unknown ones, loudly."""
    names = {f.name for f in fields(Settings)} | set(RENAMED)
    for name in sorted(set(values) - names):
        log.warning("ignoring %s%s: not a setting%s", ENV_PREFIX, name.upper(), _suggest(name, dict.fromkeys(names)))
    return {k: v for k, v in values.items() if k in names}


def _from_env(env: Mapping[str, str]) -> dict[str, str]:
    return {k[len(ENV_PREFIX):].lower(): v for k, v in env.items() if k.startswith(ENV_PREFIX)}


def _convert(name: str, value: Any, annotation: Any) -> Any:
    kind = str(annotation)
    try:
        if value is None:
            return None
        if kind.startswith("tuple"):
            items = value.split(",") if isinstance(value, str) else list(value)
            return tuple(str(i).strip() for i in items if str(i).strip())
        if kind.startswith("bool"):
            return _to_bool(value)
        if kind.startswith("int"):
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            if isinstance(value, float) and not value.is_integer():
                raise ValueError("a whole number is needed")
            if isinstance(value, str) and len(value.strip()) > 18:
                raise ValueError("too many digits")
            return int(value)
        if kind.startswith("float"):
            if isinstance(value, bool):
                raise ValueError("a boolean is not a number")
            return float(value)  # finite and in range: __post_init__ checks every float setting
        return str(value)
    except (TypeError, ValueError, OverflowError) as exc:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise ConfigError(f"setting {name}: expected {kind}, got {shown} ({exc})") from None


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("use true or false")


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ConfigError(f"setting {name}: expected one of {', '.join(allowed)}, got {value!r}")


def _suggest(name: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def price_table(entries: tuple[str, ...]) -> dict[str, float]:
    """The `prices` setting ("channel=price" entries) as a mapping; ConfigError naming a bad one."""
    table: dict[str, float] = {}
    for entry in entries:
        channel, _, price = entry.partition("=")
        try:
            value = float(price)
        except ValueError:
            value = math.nan
        if channel.strip() not in ("sms", "whatsapp", "voice", "email") or not math.isfinite(value) or value < 0:
            raise ConfigError(f"setting prices: expected channel=price entries (sms, whatsapp, voice, email; a "
                              f"price >= 0), got {entry!r}")
        table[channel.strip()] = value
    return table

