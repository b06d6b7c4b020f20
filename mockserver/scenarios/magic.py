"""Magic test values: recipients that always give one documented outcome.

They live in reserved fictional ranges (the +1 202 555 01xx numbers, reserved for fiction in
the North American plan, and example.com addresses), so a real send to them could never reach
a person. Active by default; the setting `magic_values: false` turns them off.
"""

from __future__ import annotations

from dataclasses import dataclass

# recipient suffix -> error code, for every send error of the catalogue
_SEND_ERRORS = {
    "00": 1000, "01": 5001, "11": 5011, "12": 5012, "13": 5013, "14": 5014, "15": 5015,
    "16": 5016, "17": 5017, "18": 5018, "19": 5019, "20": 5020, "04": 3004, "03": 3003,
}
FIXED_CODE = "123456"
# recipient -> (the delivery step that fails for good, its error code): the send itself works
_DELIVERY_FAILURES = {
    ("+12025550160", "target-invalid@example.com"): ("target_invalid", 5011),
    ("+12025550161", "sent-failed@example.com"): ("sent_failed", 5001),
    ("+12025550162", "delivered-failed@example.com"): ("delivered_failed", 5018),
}


@dataclass(frozen=True)
class MagicValue:
    recipients: tuple[str, ...]
    outcome: str
    error: int | None = None


def table() -> list[MagicValue]:
    """The documented table, printed by `otp-mock scenarios` and the README."""
    rows = [
        MagicValue((f"+120255501{suffix}", f"fail-{code}@example.com"), f"send fails with {code}", code)
        for suffix, code in _SEND_ERRORS.items()
    ]
    rows.append(MagicValue(("+12025550199", "fixed-code@example.com"),
                           f"send works; the code is always {FIXED_CODE} (verify with it: verified true)"))
    rows.append(MagicValue(("+12025550133", "expired@example.com"),
                           "send works; the code is already expired (verify: 3003 verify code expired)"))
    rows.append(MagicValue(("+12025550144", "wrong-code@example.com"),
                           "send works; every verification answers verified false until attempts run out"))
    for recipients, (status, code) in _DELIVERY_FAILURES.items():
        where = "on every channel of the strategy" if status == "delivered_failed" else "for good"
        rows.append(MagicValue(recipients, f"send works (200); delivery fails {where}: the lifecycle and "
                                           f"callbacks show {status} with error_code {code}"))
    return rows


_ERROR_OF = {recipient: row.error for row in table() if row.error is not None for recipient in row.recipients}


def send_error(recipient: str) -> int | None:
    """The error a send to this recipient always gets, if it is a magic one."""
    return _ERROR_OF.get(recipient)


_FAILURE_OF = {recipient: failure for recipients, failure in _DELIVERY_FAILURES.items() for recipient in recipients}


def delivery_failure(recipient: str) -> tuple[str, int] | None:
    """The delivery failure of a magic recipient (any send operation), if it is one."""
    return _FAILURE_OF.get(recipient)


def effect(recipient: str) -> dict[str, object]:
    """What a magic recipient changes in a successful send (a fixed code, an expired code...)."""
    if recipient in ("+12025550199", "fixed-code@example.com"):
        return {"code": FIXED_CODE}
    if recipient in ("+12025550133", "expired@example.com"):
        return {"ttl_seconds": 0}
    if recipient in ("+12025550144", "wrong-code@example.com"):
        return {"never_verifies": True}
    return {}
