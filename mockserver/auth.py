"""HTTP Basic auth as EngageLab does it: 2001 bad credentials, 2002 expired or disabled, 2004
no permission. Without a keys file any non-empty `dev_key:dev_secret` is accepted."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mockserver import yamlsafe
from mockserver.errors import ApiError, ConfigError

# Which permission of an API key each operation needs (the console's "Send API" / "Verify API";
# template management is its own permission in the mock).
PERMISSIONS = {
    "send_otp": "send",
    "send_custom_code": "send",
    "send_custom_message": "send",
    "verify_otp": "verify",
    "create_template": "templates",
    "list_templates": "templates",
    "get_template": "templates",
    "delete_template": "templates",
}
ALL_PERMISSIONS = frozenset(PERMISSIONS.values())
_HOW = "send 'Authorization: Basic base64(dev_key:dev_secret)'"


@dataclass(frozen=True)
class ApiKey:
    dev_key: str
    dev_secret: str
    permissions: frozenset[str] = ALL_PERMISSIONS
    disabled: bool = False
    expires_at: float | None = None

    def __repr__(self) -> str:  # never print the secret
        return f"ApiKey(dev_key={self.dev_key!r}, permissions={sorted(self.permissions)})"


def parse_basic(header: str | None) -> tuple[str, str]:
    """The (dev_key, dev_secret) of a Basic Authorization header, or 2001 saying what is wrong."""
    if not header:
        raise ApiError(2001, f"authentication failed: missing Authorization header; {_HOW}")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic":  # never echo the value: it may be the credentials themselves
        raise ApiError(2001, f"authentication failed: expected the Basic scheme; {_HOW}")
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(2001, "authentication failed: the credentials are not valid base64 of UTF-8 text; "
                             + _HOW) from None
    key, sep, secret = decoded.partition(":")
    if not sep or not key or not secret:
        raise ApiError(2001, "authentication failed: expected 'dev_key:dev_secret' with both parts non-empty")
    problem = key_problem(key)
    if problem:  # never echo it: a dev_key with control characters would break whatever shows it
        raise ApiError(2001, f"authentication failed: the dev_key {problem}")
    return key, secret


class KeyRing:
    """The accepted API keys; `None` keys means open mode (any non-empty pair)."""

    def __init__(self, keys: dict[str, ApiKey] | None = None) -> None:
        self.keys = keys

    @classmethod
    def load(cls, path: str | Path | None) -> KeyRing:
        if not path:
            return cls(None)
        return cls(_read_keys(Path(path)))

    def names(self) -> list[str]:
        """The dev_keys of the keys file, sorted (none in open mode: any key is accepted)."""
        return sorted(self.keys) if self.keys else []

    def authenticate(self, header: str | None, operation_id: str, now: float) -> str:
        """The tenant (`dev_key`) a request acts for, or the API's auth error."""
        dev_key, secret = parse_basic(header)
        if self.keys is None:
            return dev_key
        key = self.keys.get(dev_key)
        expected = key.dev_secret if key else "\x00" * len(secret)
        # Compare even for unknown keys, so timing does not tell which keys exist.
        if not hmac.compare_digest(expected.encode(), secret.encode()) or key is None:
            raise ApiError(2001, "authentication failed: invalid dev_key or dev_secret")
        if key.disabled:
            raise ApiError(2002, f"authentication failed: api key {dev_key!r} is disabled")
        if key.expires_at is not None and now >= key.expires_at:
            when = dt.datetime.fromtimestamp(key.expires_at, dt.UTC).isoformat()
            raise ApiError(2002, f"authentication failed: api key {dev_key!r} expired at {when}")
        needed = PERMISSIONS.get(operation_id)
        if needed and needed not in key.permissions:
            raise ApiError(2004, f"no permission to call this api: key {dev_key!r} lacks the "
                                 f"{needed!r} permission needed by {operation_id}")
        return dev_key


def _read_keys(path: Path) -> dict[str, ApiKey]:
    data = yamlsafe.read(path, "keys file")
    rows = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(rows, list):
        raise ConfigError(f"{path}: expected a mapping with a 'keys' list")
    keys: dict[str, ApiKey] = {}
    for index, row in enumerate(rows):
        key = _key_from_row(row, f"{path}: keys[{index}]")
        if key.dev_key in keys:
            raise ConfigError(f"{path}: keys[{index}]: dev_key {key.dev_key!r} appears twice")
        keys[key.dev_key] = key
    return keys


def _key_from_row(row: Any, where: str) -> ApiKey:
    if not isinstance(row, dict):
        raise ConfigError(f"{where}: expected a mapping with dev_key and dev_secret")
    unknown = set(row) - {"dev_key", "dev_secret", "permissions", "disabled", "expires_at", "description"}
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}")
    dev_key, secret = row.get("dev_key"), row.get("dev_secret")
    if not isinstance(dev_key, str) or not dev_key or not isinstance(secret, str) or not secret:
        raise ConfigError(f"{where}: dev_key and dev_secret must be non-empty strings (quote them)")
    problem = key_problem(dev_key)
    if problem:
        raise ConfigError(f"{where}: dev_key {dev_key[:40]!r} {problem}")
    granted = row.get("permissions", sorted(ALL_PERMISSIONS))
    if not isinstance(granted, list) or not all(isinstance(p, str) for p in granted):
        raise ConfigError(f"{where}: permissions: expected a list such as [send, verify], got {granted!r}")
    permissions = frozenset(granted)
    if not permissions <= ALL_PERMISSIONS:
        bad = ", ".join(sorted(permissions - ALL_PERMISSIONS))
        raise ConfigError(f"{where}: unknown permission(s) {bad}; use {', '.join(sorted(ALL_PERMISSIONS))}")
    disabled = row.get("disabled", False)
    if not isinstance(disabled, bool):
        raise ConfigError(f"{where}: disabled: expected true or false (unquoted), got {disabled!r}")
    return ApiKey(dev_key, secret, permissions, disabled, _timestamp(row.get("expires_at"), where))


MAX_KEY_LENGTH = 128


def key_problem(dev_key: str) -> str | None:
    """What makes a dev_key unusable, or None: a `:` (Basic auth could not carry it), control
    characters (they would break log lines and store keys), or more than MAX_KEY_LENGTH."""
    if ":" in dev_key:
        return "holds ':', which Basic auth cannot carry in a dev_key"
    if not dev_key.isprintable():
        return "holds control characters"
    if len(dev_key) > MAX_KEY_LENGTH:
        return f"is longer than {MAX_KEY_LENGTH} characters"
    return None


def _timestamp(value: Any, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        stamp = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
        return stamp.timestamp()
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
    try:
        parsed = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{where}: expires_at {value!r} is not an ISO date-time") from None
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)).timestamp()
