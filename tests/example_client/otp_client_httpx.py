"""The same client with httpx, sync and async (as a user of the API writes it).

The sync client builds its own `httpx.Client()`; the async one takes an optional transport,
the way httpx code is usually made testable. Nothing in here knows about the mock.
"""

from __future__ import annotations

from typing import Any

import httpx
from otp_client import BASE_URL, OtpError, OtpUnavailable

__all__ = ["AsyncOtpClient", "OtpClient", "OtpError", "OtpUnavailable"]


def _checked(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise OtpUnavailable("EngageLab answered something that is not JSON") from exc
    if response.status_code >= 500:
        raise OtpUnavailable(f"EngageLab is down: {body.get('code')} {body.get('message')}")
    if response.status_code != 200:
        raise OtpError(int(body["code"]), str(body["message"]))
    return dict(body)


class OtpClient:
    def __init__(self, dev_key: str, dev_secret: str, *, timeout: float = 2.0) -> None:
        self.http = httpx.Client(base_url=BASE_URL, auth=(dev_key, dev_secret), timeout=timeout)

    def send_code(self, phone: str, template_id: str = "test-template-1") -> str:
        return str(self._post("/v1/messages", {"to": phone, "template": {"id": template_id}})["message_id"])

    def check_code(self, message_id: str, code: str) -> bool:
        return bool(self._post("/v1/verifications", {"message_id": message_id, "verify_code": code})["verified"])

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return _checked(self.http.post(path, json=payload))
        except httpx.TransportError as exc:  # resets, timeouts, broken replies
            raise OtpUnavailable(f"EngageLab unreachable: {exc!r}") from exc

    def close(self) -> None:
        self.http.close()


class AsyncOtpClient:
    def __init__(self, dev_key: str, dev_secret: str, *, timeout: float = 2.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.http = httpx.AsyncClient(base_url=BASE_URL, auth=(dev_key, dev_secret), timeout=timeout,
                                      transport=transport)

    async def send_code(self, phone: str, template_id: str = "test-template-1") -> str:
        body = await self._post("/v1/messages", {"to": phone, "template": {"id": template_id}})
        return str(body["message_id"])

    async def check_code(self, message_id: str, code: str) -> bool:
        body = await self._post("/v1/verifications", {"message_id": message_id, "verify_code": code})
        return bool(body["verified"])

    async def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            return _checked(await self.http.post(path, json=payload))
        except httpx.TransportError as exc:
            raise OtpUnavailable(f"EngageLab unreachable: {exc!r}") from exc

    async def aclose(self) -> None:
        await self.http.aclose()
