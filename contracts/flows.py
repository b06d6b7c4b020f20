"""Steps the explicit tests share: pick a recipient, send, read a code, make a wrong one, move time.

What a step needs decides whether it can run: reading a code or moving time needs the mock; a
send needs the mock or an allowed recipient with budget left. Otherwise the test is skipped with
a reason that says what is missing, and the reason lands in the report.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from otp_mock_contracts.client import Refused, Reply
from otp_mock_contracts.data import BEHAVIOUR_PHONES

if TYPE_CHECKING:
    from otp_mock_contracts.run import ContractRun

MOCK_TEMPLATE = "test-template-1"  # digits, length 6, TTL 5 minutes on every key of the mock


class Flows:
    """The explicit tests' view of the target."""

    def __init__(self, run: ContractRun) -> None:
        self.run = run
        self.client = run.client
        self._phones = itertools.cycle(BEHAVIOUR_PHONES)
        self._shared: tuple[str, str] | None = None
        self.wrong_attempts: dict[str, int] = {}

    @property
    def is_mock(self) -> bool:
        return self.run.target.is_mock

    @property
    def template_id(self) -> str:
        return MOCK_TEMPLATE if self.is_mock else self.run.options.template_id

    def require_mock(self, needs: str) -> None:
        if not self.is_mock:
            pytest.skip(f"needs {needs}, which only the mock offers; {self.run.target.description}")

    def recipient(self) -> str:
        """A fresh fictional number on the mock; the first allowed recipient elsewhere."""
        if self.is_mock:
            return next(self._phones)
        if not self.run.options.allow_send_to:
            pytest.skip("sends a message; a target that is not the mock gets no sends without --allow-send-to")
        return self.run.options.allow_send_to[0]

    def spare_recipient(self) -> str | None:
        """A recipient no earlier step used (the mock has plenty), or None."""
        if self.is_mock:
            return next(self._phones)
        allowed = self.run.options.allow_send_to
        return allowed[1] if len(allowed) > 1 else None

    def guarded(self, action: Callable[[], Reply]) -> Reply:
        """Run a send step; a refusal of the safety guard skips the test with its reason."""
        try:
            return action()
        except Refused as refused:
            pytest.skip(str(refused))

    def send_otp(self, to: str) -> str:
        """Send an OTP and return its message_id (fails on any other reply)."""
        reply = self.guarded(lambda: self.client.send_otp(to, self.template_id))
        body = reply.expect_ok(f"send_otp to {to} with template {self.template_id}")
        return str(body.get("message_id"))

    def shared_message(self) -> tuple[str, str]:
        """One sent OTP the tests that only need *a* message share, to spend as few sends as possible."""
        if self._shared is None:
            to = self.recipient()
            self._shared = (self.send_otp(to), to)
        return self._shared

    def code_of(self, message_id: str) -> str:
        """The delivered code, from the mock's control plane."""
        self.require_mock("the delivered code (/_mock/messages)")
        reply = self.client.message(message_id)
        body = reply.expect_ok(f"reading message {message_id} from the mock's control plane")
        return str(body["code"])

    def wrong_code(self, message_id: str) -> str:
        """A code that is certainly wrong on the mock; random digits of the template's length elsewhere."""
        if self.is_mock:
            right = self.code_of(message_id)
            return "".join("0" if ch == "1" else "1" for ch in right)
        return "".join(secrets.choice("0123456789") for _ in range(self.code_length()))

    def code_length(self) -> int:
        return self._code_setting("verify_code_len", 6)

    def ttl_seconds(self) -> int:
        return 60 * self._code_setting("verify_code_ttl", 5)

    def _code_setting(self, name: str, default: int) -> int:
        """A number of the template's verify_code_config, read with get_template."""
        body = self.client.get_template(self.template_id).expect_ok(f"get_template {self.template_id}")
        config = body.get("verify_code_config")
        value = config.get(name) if isinstance(config, dict) else None
        return value if isinstance(value, int) else default

    def advance_clock(self, seconds: int) -> None:
        self.require_mock("time travel (/_mock/clock)")
        self.client.advance_clock(seconds).expect_ok(f"moving the mock's clock of dev_key {self.client.dev_key}")

    def count_wrong(self, message_id: str, reply: Reply) -> None:
        if reply.status == 200 and isinstance(reply.body, dict) and reply.body.get("verified") is False:
            self.wrong_attempts[message_id] = self.wrong_attempts.get(message_id, 0) + 1
