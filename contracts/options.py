"""What one contract run is told: the target, the credentials, the safety limits, the reports."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

DEFAULT_REPORT_DIR = Path("reports/contract")
DEFAULT_MAX_SENDS = 10
DEFAULT_MAX_EXAMPLES = 25
DEFAULT_TEMPLATE = "test-template-1"
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}", re.ASCII)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


class OptionsError(ValueError):
    """A run option that cannot work; the message says what to pass instead."""


def new_run_id() -> str:
    """A short id that makes this run's dev_key, template prefix and reports unique."""
    return secrets.token_hex(4)


@dataclass(frozen=True)
class RunOptions:
    """The options of `otp-mock contract` (and of `pytest contracts/ --contract-...`).

        >>> RunOptions(allow_send_to=("+447700900123",), max_sends=2).template_prefix.startswith("contract-")
        True
    """

    base_url: str | None = None
    dev_key: str | None = None
    dev_secret: str | None = field(default=None, repr=False)
    report_dir: Path = DEFAULT_REPORT_DIR
    allow_send_to: tuple[str, ...] = ()
    max_sends: int = DEFAULT_MAX_SENDS
    allow_template_writes: bool = False
    characterise: bool = False
    max_examples: int = DEFAULT_MAX_EXAMPLES
    seed: int | None = None
    template_id: str = DEFAULT_TEMPLATE
    select: str | None = None
    run_id: str = field(default_factory=new_run_id)

    def __post_init__(self) -> None:
        if self.base_url is not None:
            _check_url(self.base_url)
            object.__setattr__(self, "base_url", self.base_url.rstrip("/"))
        if (self.dev_key is None) != (self.dev_secret is None):
            missing = "--dev-secret (or OTP_DEV_SECRET)" if self.dev_secret is None else "--dev-key (or OTP_DEV_KEY)"
            raise OptionsError(f"credentials come in pairs: {missing} is missing")
        if self.dev_key is not None and (not self.dev_key or ":" in self.dev_key or not self.dev_secret):
            raise OptionsError("--dev-key must be non-empty without ':' and --dev-secret non-empty")
        for recipient in self.allow_send_to:
            if not (_PHONE.fullmatch(recipient) or _EMAIL.fullmatch(recipient)):
                raise OptionsError(f"--allow-send-to {recipient!r}: expected a phone number in international "
                                   "form (+ and 7-15 digits, e.g. +447700900123) or an email address")
        if self.max_sends < 0:
            raise OptionsError(f"--max-sends: expected 0 or more, got {self.max_sends}")
        if self.max_examples < 1:
            raise OptionsError(f"--max-examples: expected 1 or more, got {self.max_examples}")
        if not self.template_id or len(self.template_id) > 128:
            raise OptionsError("--template-id: expected 1 to 128 characters")
        object.__setattr__(self, "report_dir", Path(self.report_dir))

    @property
    def template_prefix(self) -> str:
        """Every template this run creates starts with it, so cleanup finds exactly those."""
        return f"contract-{self.run_id}-"

    @property
    def has_credentials(self) -> bool:
        return self.dev_key is not None


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OptionsError(f"--base-url {url!r}: expected http(s)://host[:port], e.g. http://127.0.0.1:8090")
    if parts.query or parts.fragment:
        raise OptionsError(f"--base-url {url!r}: leave out the query and fragment")
