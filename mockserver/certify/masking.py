"""Keep secrets and partners' real recipients out of every report file.

The journal masks credentials already (`Basic ***`); the report masks again, in every string of
the report and the evidence (keys too):

    secrets      the session's dev_secret, its Authorization value and the control token, as
                 they are, percent-encoded (upper- or lower-case hex), JSON-escaped and in
                 base64 (standard and URL-safe, padded or not), become `***`
    phone-like   any run of 7 to 15 digits that could be a phone number (an optional `+`,
                 `%2B`, `%2b` or `\\u002b`, and spaces, dashes or parentheses between digits),
                 wherever it is: a body that is not JSON, a nested field, a query, a path. A
                 number in the fictional ranges (+1 NXX 555-01XX, +44 7700 900XXX) stays
                 readable; a recipient of the session becomes `<recipient-N>` (the same N for
                 every spelling, so a send and its retries still read as one); any other
                 becomes `<phone>`. Message ids (19 digits), codes (6) and dates stay as they are.
    e-mail       a recipient of the session becomes `<recipient-N>`, any other address
                 `<email>`, unless its domain is fictional (example.com, .test, .example, ...)
    headers      `headers` mappings of the evidence keep the values of a few harmless headers
                 (content-type, accept, user-agent, host, x-mock-*, ...) and a masked
                 Authorization's scheme; every other header's value becomes `***`

Masking is linear in the text: one compiled pattern per kind and a dictionary lookup per match,
however many recipients and secrets the session had.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

MASK = "***"
_PLUS = r"(?:\+|%2[bB]|\\u002[bB])"
_SEP = r"[ \-()]"
# 7-15 digits, an optional plus in any spelling, separators between digits; not part of a word,
# a decimal number, a dashed id (dev_key, UUID) or an ISO date.
_PHONE = re.compile(rf"(?<![\w.\-])(?!\d{{4}}-[01]\d-[0-3]\d(?!\d))({_PLUS}{_SEP}?)?\(?\d(?:{_SEP}{{0,2}}\d){{6,14}}"
                    r"(?!\w|\.\d)")
_DIGITS = re.compile(r"\D")
_EMAIL = re.compile(r"[\w.%+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
_FICTIONAL_PHONE = re.compile(r"^\+1\d{3}55501\d{2}$|^\+447700900\d{3}$")
_FICTIONAL_DOMAIN = re.compile(r"(^|\.)example\.(com|net|org)$|\.(test|example|invalid|localhost)$", re.IGNORECASE)
MIN_SECRET = 4  # shorter strings are no secret worth hiding, and would mask half the report
HARMLESS_HEADERS = frozenset({
    "accept", "accept-encoding", "accept-language", "cache-control", "connection", "content-length",
    "content-type", "expect", "host", "prefer", "transfer-encoding", "user-agent", "x-certify-exchange",
})
_MASKED_VALUE = re.compile(r"^(?:[A-Za-z][\w-]{0,30} )?\*\*\*$")  # what the journal made of a credential


def fictional(recipient: str) -> bool:
    """A recipient no real person has: test data that may stay in a report."""
    if _FICTIONAL_PHONE.match(recipient):
        return True
    _, at, domain = recipient.rpartition("@")
    return bool(at) and _FICTIONAL_DOMAIN.search(domain) is not None


def basic_value(dev_key: str, dev_secret: str) -> str:
    return base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()


def secret_pattern(secret: str) -> str:
    """A pattern of a secret in every spelling a request gives it: each character as itself,
    percent-encoded (either case of hex, needed or not) or JSON-escaped (\\uXXXX); or the
    whole secret in base64 (standard or URL-safe, padded or not)."""
    firsts: list[str] = []
    pieces: list[str] = []
    for char in secret:
        hexes = "".join(f"%{byte:02x}" for byte in char.encode("utf-8", "surrogatepass"))
        forms = [re.escape(char), "%" + f"(?i:{re.escape(hexes[1:])})"]
        if ord(char) < 0x10000:
            forms.append(f"\\\\u(?i:{ord(char):04x})")
        firsts = firsts or forms
        pieces.append(f"(?:{'|'.join(forms)})")
    rest = "".join(pieces[1:])
    raw = secret.encode("utf-8", "surrogatepass")
    encoded = {base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()}
    encoded |= {f.rstrip("=") for f in encoded}
    # every branch starts with a literal character, so the matcher skips ahead to one of them
    return "|".join([*(first + rest for first in firsts), *(re.escape(f) for f in sorted(encoded, key=len,
                                                                                             reverse=True))])


def phone_key(text: str) -> str | None:
    """`+DIGITS` of a phone-like text (7 to 15 digits, any spelling), or None."""
    found = _PHONE.fullmatch(text.strip())
    return "+" + _DIGITS.sub("", found.group(0)[len(found.group(1) or ""):]) if found else None


def _alternation(forms: Iterable[str]) -> re.Pattern[str] | None:
    ordered = sorted(set(forms), key=len, reverse=True)  # the longest spelling first
    return re.compile("|".join(re.escape(f) for f in ordered)) if ordered else None


class Masker:
    """Masks strings, and every string of a JSON value (keys too)."""

    def __init__(self, secrets: Iterable[str | None], recipients: Iterable[str]) -> None:
        found = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len, reverse=True)
        self._secrets = re.compile("|".join(secret_pattern(s) for s in found)) if found else None
        labels: dict[str, str] = {}  # a recipient's key (+DIGITS, or the address) -> its label
        self.labels: dict[str, str] = {}  # the recipient as the session sent it -> its label
        for recipient in recipients:
            key = phone_key(recipient) or recipient
            if recipient in self.labels or fictional(key) or len(recipient) < MIN_SECRET:
                continue
            label = labels.setdefault(key, f"<recipient-{len(labels) + 1}>")
            self.labels[recipient] = label
        self._phones = {k: v for k, v in labels.items() if k.startswith("+")}
        addresses: dict[str, str] = {}
        for key, label in labels.items():
            if not key.startswith("+"):
                for form in (key, json.dumps(key)[1:-1], quote(key, safe=""), quote(key, safe="@")):
                    addresses.setdefault(form, label)
                    addresses.setdefault(form.lower(), label)
        self._addresses = addresses
        self._address_pattern = _alternation(addresses)

    def _phone(self, found: re.Match[str]) -> str:
        number = "+" + _DIGITS.sub("", found.group(0)[len(found.group(1) or ""):])
        label = self._phones.get(number)
        if label is not None:
            return label
        return found.group(0) if fictional(number) else "<phone>"

    def _email(self, found: re.Match[str]) -> str:
        text = found.group(0)
        return text if fictional(text) else "<email>"

    def text(self, text: str) -> str:
        if self._secrets is not None:
            text = self._secrets.sub(MASK, text)
        if self._address_pattern is not None:
            text = self._address_pattern.sub(lambda m: self._addresses[m.group(0)], text)
        text = _PHONE.sub(self._phone, text)
        return _EMAIL.sub(self._email, text) if "@" in text else text

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value

    def record(self, row: dict[str, Any]) -> dict[str, Any]:
        """A record of the evidence (records.Record.as_json), masked: its headers reduced to
        harmless values, then every string."""
        headers = row.get("headers")
        if isinstance(headers, dict):
            row = {**row, "headers": masked_headers(headers)}
        masked: dict[str, Any] = self.value(row)
        return masked


def masked_headers(headers: dict[str, Any]) -> dict[str, Any]:
    """Every header's value masked but a harmless one's (and the scheme the journal kept)."""
    out: dict[str, Any] = {}
    for name, value in headers.items():
        lower = str(name).lower()
        if lower in HARMLESS_HEADERS or lower.startswith("x-mock-"):
            out[name] = value
        elif isinstance(value, str) and _MASKED_VALUE.match(value):
            out[name] = value
        else:
            out[name] = MASK
    return out
