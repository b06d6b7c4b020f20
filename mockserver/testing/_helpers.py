"""The helpers every face of `mockserver.testing` offers: the stable surface a test reads and
steers the mock through (API_VERSION 1: names and fields are only ever added to)."""

from __future__ import annotations

from typing import Any

from mockserver.errors import ControlError, MockError
from mockserver.mock import OtpMock
from mockserver.testing._harness import Call, Harness
from mockserver.views import SentMessage


class MessageNotFound(MockError, LookupError):
    """No message was sent to that recipient (the message lists those that were)."""


class Helpers:
    """See and steer one mock; `dev_key` arguments filter (or scope) what a helper touches.

    A served key (`ServedKey`, the `otp_mock_server` fixture) is scoped to its own dev_key:
    there the default of every `dev_key` argument is that key."""

    _scope: str | None = None

    def _harness(self) -> Harness:
        raise NotImplementedError

    def _key(self, dev_key: str | None) -> str | None:
        return dev_key if dev_key is not None else self._scope

    @property
    def mock(self) -> OtpMock:
        """The OtpMock behind the helpers, for anything they do not cover (`mock.control`)."""
        return self._harness().mock

    # what was sent ------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        """The requests the client sent and what it got, oldest first (`calls[-1]` is the last)."""
        return self._harness().calls_of(self._scope)

    def messages(self, to: str | None = None, *, template_id: str | None = None, dev_key: str | None = None,
                 limit: int = 100) -> list[SentMessage]:
        """The messages the mock "sent", newest first, with their codes."""
        return self.mock.control.messages(to, template_id, self._key(dev_key), limit)

    def latest(self, to: str, *, template_id: str | None = None, dev_key: str | None = None) -> SentMessage:
        """The newest message to a recipient; MessageNotFound if there is none."""
        try:
            return self.mock.control.latest(to, template_id, self._key(dev_key))
        except ControlError:
            sent = sorted({m.to for m in self.messages(dev_key=dev_key, limit=1000)})
            scope = f" with dev_key {self._key(dev_key)!r}" if self._key(dev_key) else ""
            shown = ", ".join(sent) if sent else "none"
            raise MessageNotFound(f"no message to {to!r} was sent{scope}"
                                  + (f" with template {template_id!r}" if template_id else "")
                                  + f"; recipients so far: {shown}") from None

    def latest_code(self, to: str, *, template_id: str | None = None, dev_key: str | None = None) -> str:
        """The code of the newest message to a recipient (what the user would type)."""
        message = self.latest(to, template_id=template_id, dev_key=dev_key)
        if message.code is None:
            raise MessageNotFound(f"the newest message to {to!r} ({message.operation}) carries no code")
        return message.code

    # steering -----------------------------------------------------------------------------
    def use_scenario(self, name: str | None, *, dev_key: str | None = None) -> None:
        """Make a scenario active (for everyone, or one dev_key); None goes back to realistic."""
        self.mock.control.set_scenario(name, self._key(dev_key))

    def fail_next(self, code: int | str, *, operation: str | None = None, times: int = 1,
                  dev_key: str | None = None) -> None:
        """The next request that can answer `code` (of `operation`, if given) gets that
        documented error (what `Prefer: code=NNNN` does), or with a fault's name
        (`"connection_reset"`, `"empty_reply"`, `"incomplete_body"`, `"hang"`,
        `"truncated_json"`, `"malformed_json"`) that fault; `times` times. A request refused
        earlier in the pipeline (2001, 3002) leaves it for the next one."""
        self._harness().fail_next(code, operation, self._key(dev_key), times)

    def advance_clock(self, seconds: float = 0.0, *, minutes: float = 0.0, dev_key: str | None = None) -> float:
        """Move the virtual clock forward (codes expire, deliveries land); returns the new
        virtual time (epoch seconds)."""
        return self.mock.control.advance_clock(seconds + minutes * 60, self._key(dev_key)).now

    def now(self, dev_key: str | None = None) -> float:
        """The virtual time (epoch seconds)."""
        return self.mock.control.now(self._key(dev_key))

    def set(self, **settings: Any) -> None:
        """Change settings of the running mock (`set(max_verify_attempts=3)`); its state stays."""
        self._harness().reconfigure(settings)

    def reset(self) -> None:
        """Forget every message, template change, clock move, scenario progress, call and
        pending `fail_next` (as `POST /_mock/reset`; the active scenario stays)."""
        harness = self._harness()
        harness.mock.control.reset(self._scope)
        harness.forget(self._scope)


class OtpClock:
    """The virtual clock of a test's mock (the `otp_clock` fixture). With `otp_mock` it is
    frozen: time moves only with `advance()`, so expiry never depends on how slow a test runs;
    with `otp_mock_server` it is the server's real clock plus the test key's own offset."""

    def __init__(self, helpers: Helpers, frozen: bool) -> None:
        self.helpers = helpers
        self.frozen = frozen

    def now(self) -> float:
        """The virtual time (epoch seconds)."""
        return self.helpers.now()

    def advance(self, seconds: float = 0.0, *, minutes: float = 0.0) -> float:
        """Move the clock forward; returns the new virtual time."""
        return self.helpers.advance_clock(seconds, minutes=minutes)
