"""A client with nothing but the standard library (urllib), pointed at a base URL."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any


class OtpError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class UrllibOtpClient:
    def __init__(self, base_url: str, dev_key: str, dev_secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{dev_key}:{dev_secret}".encode()).decode()
        self.headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}

    def send_code(self, phone: str, template_id: str = "test-template-1") -> str:
        return str(self._post("/v1/messages", {"to": phone, "template": {"id": template_id}})["message_id"])

    def check_code(self, message_id: str, code: str) -> bool:
        return bool(self._post("/v1/verifications", {"message_id": message_id, "verify_code": code})["verified"])

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        request = urllib.request.Request(self.base_url + path, data=json.dumps(payload).encode(),
                                         headers=self.headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - the base URL is ours
                return dict(json.loads(response.read()))
        except urllib.error.HTTPError as error:
            body = json.loads(error.read())
            raise OtpError(int(body["code"]), str(body["message"])) from None
