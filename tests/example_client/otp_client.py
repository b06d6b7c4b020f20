"""Our app's EngageLab OTP client, as a user of the API writes it (requests).

The kit's example of user code: nothing in here knows about the mock.
"""

from __future__ import annotations

import requests

BASE_URL = "https://otp.api.engagelab.cc"


class OtpError(Exception):
    """EngageLab refused the request: `code` is its error code (3003 expired, 3004 too soon...)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class OtpUnavailable(Exception):
    """EngageLab could not be reached or answered nonsense: try again later."""


class OtpClient:
    def __init__(self, dev_key: str, dev_secret: str, *, timeout: float = 2.0) -> None:
        self.session = requests.Session()
        self.session.auth = (dev_key, dev_secret)
        self.timeout = timeout

    def send_code(self, phone: str, template_id: str = "test-template-1") -> str:
        """Send a one-time code; returns the message id to verify it with."""
        body = self._post("/v1/messages", {"to": phone, "template": {"id": template_id}})
        return str(body["message_id"])

    def check_code(self, message_id: str, code: str) -> bool:
        """True if the code is the one sent; False if it is wrong (OtpError 3003 once expired)."""
        body = self._post("/v1/verifications", {"message_id": message_id, "verify_code": code})
        return bool(body["verified"])

    def _post(self, path: str, payload: dict[str, object]) -> dict[str, object]:
        try:
            response = self.session.post(BASE_URL + path, json=payload, timeout=self.timeout)
            body = response.json()
        except requests.JSONDecodeError as exc:  # a reply that is not JSON
            raise OtpUnavailable("EngageLab answered something that is not JSON") from exc
        except requests.RequestException as exc:  # resets, timeouts, and short bodies (not ConnectionErrors)
            raise OtpUnavailable(f"EngageLab unreachable: {exc}") from exc
        if response.status_code >= 500:
            raise OtpUnavailable(f"EngageLab is down: {body.get('code')} {body.get('message')}")
        if response.status_code != 200:
            raise OtpError(int(body["code"]), str(body["message"]))
        return dict(body)
