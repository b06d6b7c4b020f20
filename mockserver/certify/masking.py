"""Keep secrets and partners' real recipients out of every report file.

The journal masks credentials already (`Basic ***`); the report masks again, everywhere, the
session's dev_secret and Authorization value and the control token, in case a client wrote them
somewhere else (a body, a path). Recipients in the fictional ranges (the magic values,
+1 NXX 555-01XX, +44 7700 900XXX, example.com and the .test/.example/.invalid domains) are test
data and stay readable; every other recipient of the session becomes `<recipient-N>` (the same N
everywhere, so a send and its retries still read as one), and any other phone number or e-mail
address in the text becomes `<phone>` or `<email>`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote

MASK = "***"
_PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{6,14}(?!\d)")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})+")
_FICTIONAL_PHONE = re.compile(r"^\+1\d{3}55501\d{2}$|^\+447700900\d{3}$")
_FICTIONAL_DOMAIN = re.compile(r"(^|\.)example\.(com|net|org)$|\.(test|example|invalid|localhost)$", re.IGNORECASE)
MIN_SECRET = 4  # shorter strings are no secret worth hiding, and would mask half the report


def fictional(recipient: str) -> bool:
    """A recipient no real person has: test data that may stay in a report."""
    if _FICTIONAL_PHONE.match(recipient):
        return True
    _, at, domain = recipient.rpartition("@")
    return bool(at) and _FICTIONAL_DOMAIN.search(domain) is not None


def basic_value(dev_key: str, dev_secret: str) -> str:
    return base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()


class Masker:
    """Masks strings, and every string of a JSON value (keys too)."""

    def __init__(self, secrets: Iterable[str | None], recipients: Iterable[str]) -> None:
        found = {s for s in secrets if s and len(s) >= MIN_SECRET}
        self.secrets = sorted(found | {quote(s, safe="") for s in found}, key=len, reverse=True)
        labels: dict[str, str] = {}
        for recipient in recipients:
            if recipient not in labels and not fictional(recipient) and len(recipient) >= MIN_SECRET:
                labels[recipient] = f"<recipient-{len(labels) + 1}>"
        self.labels = labels
        forms: dict[str, str] = {}
        for recipient, label in labels.items():
            for form in (recipient, json.dumps(recipient)[1:-1], quote(recipient, safe="")):
                forms.setdefault(form, label)
        self.forms = sorted(forms.items(), key=lambda item: len(item[0]), reverse=True)

    def text(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        for form, label in self.forms:
            if form in text:
                text = text.replace(form, label)
        text = _PHONE.sub(lambda m: m.group(0) if fictional(m.group(0)) else "<phone>", text)
        return _EMAIL.sub(lambda m: m.group(0) if fictional(m.group(0)) else "<email>", text)

    def value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.value(v) for v in value]
        return value
