"""Code generation from a template's `verify_code_config`, and constant-time comparison."""

from __future__ import annotations

import hmac
import random
import string

DIGITS, LOWER, UPPER = 1, 2, 4
_ALPHABETS = ((DIGITS, string.digits), (LOWER, string.ascii_lowercase), (UPPER, string.ascii_uppercase))


def alphabet(mask: int) -> str:
    """Characters allowed by a `verify_code_type` bit mask (1 digits, 2 lower, 4 upper)."""
    if not 1 <= mask <= 7:
        raise ValueError(f"verify_code_type must be 1..7, got {mask}")
    return "".join(chars for bit, chars in _ALPHABETS if mask & bit)


def generate(rng: random.Random, mask: int, length: int) -> str:
    """A random code of `length` characters drawn from the mask's alphabet."""
    if mask == DIGITS:  # the usual case, in one step
        return f"{rng.randrange(10 ** length):0{length}d}"
    chars = alphabet(mask)
    value = rng.randrange(len(chars) ** length)  # one draw (one read of the OS's CSPRNG), unbiased
    out = []
    for _ in range(length):
        value, index = divmod(value, len(chars))
        out.append(chars[index])
    return "".join(out)


def same_code(expected: str, given: str) -> bool:
    """Compare two codes in constant time (no early exit on the first differing character)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))
