"""A careless partner client: it covers every case, but sends a malformed body, retries a 3002
at once, hammers verify, never backs off a 1000, and has no timeout. It also sends to a real
number (+6591234567), which no report may show."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from client import auth, call, latest_code, send, verify  # noqa: E402

REAL = "+6591234567"


def main() -> None:
    if len(sys.argv) > 1:  # where the test finds what no report may show
        Path(sys.argv[1]).write_text(json.dumps({"dev_secret": os.environ["OTP_DEV_SECRET"],
                                                 "authorization": auth()}))
    status, sent = send(REAL, timeout=None)
    code = latest_code(REAL)
    verify(sent["message_id"], code, timeout=None)
    verify(sent["message_id"], code, timeout=None)  # already verified
    call("POST", "/v1/messages", raw=b'{"to": "' + REAL.encode() + b'", "template": ', timeout=None)  # malformed
    for _ in range(2):  # a 3002, retried at once
        call("POST", "/v1/messages", {"to": REAL, "template": {"id": 42}}, timeout=None)
    status, wrong = send("+12025550144", timeout=None)
    for attempt in range(8):  # hammers verify
        verify(wrong["message_id"], f"{attempt:06d}", timeout=None)
    status, old = send("+12025550133", timeout=None)
    verify(old["message_id"], latest_code("+12025550133"), timeout=None)
    send("+12025550104", timeout=None)
    send("+12025550151", template="no-such-template", timeout=None)
    send("+12025550111", timeout=None)
    for _ in range(6):  # never backs off a 1000
        send("+12025550100", timeout=None)
    call("GET", "/v1/template-configs/test-template-1", secret="not-the-secret", timeout=None)
    send("+12025550160", timeout=None)  # no timeout: waits until the mock gives up
    send("+12025550161", timeout=None)


if __name__ == "__main__":
    main()
