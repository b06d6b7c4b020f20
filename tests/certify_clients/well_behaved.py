"""A well-behaved partner client: every case of the profile, handled as the profile asks."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from client import call, latest_code, send, verify  # noqa: E402

TIMEOUT = 1.0  # the client's own timeout: below the test profile's client-timeout limit


def with_backoff(action, tries: int = 3, first_wait: float = 0.6):  # type: ignore[no-untyped-def]
    """Retry a retryable failure (1000, 5001, a transport error) at most tries-1 times, waiting longer each time."""
    wait = first_wait
    for attempt in range(tries):
        status, reply = action()
        retryable = status is None or (isinstance(reply, dict) and reply.get("code") in (1000, 5001))
        if not retryable or attempt == tries - 1:
            return status, reply
        time.sleep(wait)
        wait *= 2
    return status, reply


def main() -> None:
    to = "+12025550150"
    status, sent = send(to, timeout=TIMEOUT)
    assert status == 200, sent
    code = latest_code(to)
    assert verify(sent["message_id"], code, timeout=TIMEOUT)[1]["verified"] is True
    assert verify(sent["message_id"], code, timeout=TIMEOUT)[1]["code"] == 3003  # already verified

    status, wrong = send("+12025550144", timeout=TIMEOUT)
    assert verify(wrong["message_id"], "000000", timeout=TIMEOUT)[1]["verified"] is False

    status, old = send("+12025550133", timeout=TIMEOUT)
    assert verify(old["message_id"], latest_code("+12025550133"), timeout=TIMEOUT)[1]["code"] == 3003

    assert send("+12025550104", timeout=TIMEOUT)[1]["code"] == 3004
    assert send("+12025550151", template="no-such-template", timeout=TIMEOUT)[1]["code"] == 4001
    assert send("+12025550111", timeout=TIMEOUT)[1]["code"] == 5011
    assert with_backoff(lambda: send("+12025550100", timeout=TIMEOUT))[1]["code"] == 1000
    assert call("GET", "/v1/template-configs/test-template-1", secret="not-the-secret",
                timeout=TIMEOUT)[1]["code"] == 2001
    assert send("+12025550160", timeout=TIMEOUT)[0] is None  # gave up on the slow reply, no retry
    assert with_backoff(lambda: send("+12025550161", timeout=TIMEOUT), tries=2)[0] is None  # reset


if __name__ == "__main__":
    main()
