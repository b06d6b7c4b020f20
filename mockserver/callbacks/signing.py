"""EngageLab's callback signature, made and checked. Pure (the standard library only).

A callback carries `X-CALLBACK-ID: timestamp={t};nonce={n};username={u};signature={s}` when a
username and a secret are configured, where `s` is the lowercase hex HMAC-SHA256 of the plain
concatenation `t + n + u`, keyed by the secret. The body is not signed (EngageLab's scheme).

    >>> header = callback_id("otp-hook", "s3cret", timestamp=1701234567, nonce="42")
    >>> header.startswith("timestamp=1701234567;nonce=42;username=otp-hook;signature=")
    True
    >>> verify_callback_id(header, "otp-hook", "s3cret", tolerance=None)
    True
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import time

HEADER = "X-CALLBACK-ID"
FIELDS = ("timestamp", "nonce", "username", "signature")
MAX_HEADER = 1024  # characters: a longer header is refused before any work


class InvalidSignature(ValueError):  # noqa: N818 - the answer of a check, named as a receiver reads it
    """An X-CALLBACK-ID that does not verify; the message says why (never the secret)."""


def signature(secret: str, timestamp: str, nonce: str, username: str) -> str:
    """The lowercase hex HMAC-SHA256 of timestamp + nonce + username, keyed by the secret."""
    message = f"{timestamp}{nonce}{username}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def new_nonce() -> str:
    """A random 18-digit number: unique per delivery attempt (a collision needs ~10^9 attempts)."""
    return str(10**17 + secrets.randbelow(9 * 10**17))


def callback_id(username: str, secret: str, *, timestamp: int | None = None, nonce: str | None = None) -> str:
    """The header value for one attempt: real time in seconds (never a virtual clock, so a
    receiver's replay window accepts it) and a fresh nonce."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    once = new_nonce() if nonce is None else nonce
    return f"timestamp={stamp};nonce={once};username={username};signature={signature(secret, stamp, once, username)}"


def parse(header: str | None) -> dict[str, str]:
    """The fields of a header, in any order; InvalidSignature when one is missing or repeated.
    Names are matched case-insensitively; values are kept exactly as they came (the signature
    covers them as sent)."""
    if not header or not header.strip():
        raise InvalidSignature("no X-CALLBACK-ID header")
    if len(header) > MAX_HEADER:
        raise InvalidSignature(f"the header is longer than {MAX_HEADER} characters")
    found: dict[str, str] = {}
    for part in header.split(";"):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if not sep:
            raise InvalidSignature(f"{name[:20]!r} is not a name=value field")
        if name in found:
            raise InvalidSignature(f"field {name!r} appears twice")
        found[name] = value
    missing = [f for f in FIELDS if f not in found]
    if missing:
        raise InvalidSignature(f"missing field(s): {', '.join(missing)}")
    return found


def _text(value: object, what: str, encoding: str) -> str:
    """A str as it is, bytes decoded (`encoding`), anything else InvalidSignature."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray)):
        try:
            return bytes(value).decode(encoding)
        except UnicodeDecodeError:
            raise InvalidSignature(f"{what}: not {encoding} text") from None
    raise InvalidSignature(f"{what}: expected text, got {type(value).__name__}")


def _window(tolerance: object) -> float | None:
    if tolerance is None:
        return None
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) \
            or not math.isfinite(tolerance) or tolerance < 0:
        raise ValueError(f"tolerance: expected a finite number of seconds >= 0 (or None), got {tolerance!r}")
    return float(tolerance)


def check_callback_id(header: str | bytes | None, username: str | bytes, secret: str | bytes,
                      tolerance: float | None = 300, *, now: float | None = None) -> None:
    """Raise InvalidSignature unless the header was made with this username and secret within
    `tolerance` seconds of `now` (None: any time). Constant-time comparisons.

    The timestamp must be 10 digits, Unix seconds as EngageLab sends it: the signed string is
    timestamp + nonce + username with no separator, so a check that took other lengths (13
    digits of milliseconds, say) would let digits move between the timestamp and the nonce under
    the same signature (a replay with a "new" nonce). The username must equal the configured one
    exactly. A header as bytes is read as Latin-1 (as HTTP carries it), a username or secret as
    bytes as UTF-8; other types are refused (InvalidSignature). A `tolerance` that is not a
    finite number >= 0 (NaN, infinite, negative) is a ValueError."""
    window = _window(tolerance)
    fields = parse(_text(header, "the header", "latin-1") if header is not None else None)
    username, secret = _text(username, "username", "utf-8"), _text(secret, "secret", "utf-8")
    stamp = fields["timestamp"]
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) == 10):
        raise InvalidSignature(f"timestamp {stamp[:20]!r} is not 10 digits of Unix seconds")
    if window is not None:
        drift = (time.time() if now is None else now) - int(stamp)
        if abs(drift) > window:
            side = "old" if drift > 0 else "in the future"
            raise InvalidSignature(f"timestamp is {abs(drift):.0f} s {side} (tolerance {window:g} s): a replay?")
    if not hmac.compare_digest(fields["username"].encode(), username.encode()):
        raise InvalidSignature(f"username {fields['username'][:40]!r} is not the one configured")
    expected = signature(secret, stamp, fields["nonce"], fields["username"])
    if not hmac.compare_digest(fields["signature"].lower().encode(), expected.encode()):
        raise InvalidSignature("signature does not match (another secret, or a tampered header)")


def verify_callback_id(header: str | bytes | None, username: str | bytes, secret: str | bytes,
                       tolerance: float | None = 300, *, now: float | None = None) -> bool:
    """Whether an X-CALLBACK-ID header is EngageLab's signature for this username and secret,
    made within `tolerance` seconds (300 by default, as EngageLab's SDK; None turns the window
    off). Constant-time; a malformed header (or a header, username or secret that is not text)
    is False, never an exception; only a `tolerance` that is not a finite number >= 0 raises
    ValueError. The timestamp must be 10 digits (seconds; see check_callback_id). Remember the
    signatures (or timestamp + nonce) seen within the window and refuse a repeat: that refuses
    replays. The body is not signed.

        >>> from mockserver import verify_callback_id
        >>> verify_callback_id("timestamp=1;nonce=2;username=u;signature=00", "u", "s")
        False
    """
    try:
        check_callback_id(header, username, secret, tolerance, now=now)
    except InvalidSignature:
        return False
    return True
