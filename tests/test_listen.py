"""`otp-mock listen --forward-to URL` end to end: a served mock, the listener (a real process)
and a receiver on 127.0.0.1. The listener registers itself, verifies each delivery's signature,
prints a line per event, forwards the delivery to the receiver and shows its answer; a tampered
signature is reported and not forwarded; on exit its configuration is removed."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest
import requests
from receiver import receiver

from conftest import basic
from mockserver import verify_callback_id
from test_served import start, stop

pytestmark = pytest.mark.served
SECRET = "listen-s3cret"


@pytest.fixture
def mock_url() -> Iterator[str]:
    process, url = start("--set", "callback_linger_seconds=0.05", "--set", "callback_targets=loopback")
    yield url
    code, out, err = stop(process)
    assert code == 0 and SECRET not in out + err


class Lines:
    """A process's stdout, line by line, read in a thread (waits are bounded)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self.done = threading.Event()
        assert process.stdout is not None
        stream = process.stdout

        def read() -> None:
            for line in stream:
                self._queue.put(line)
            self.done.set()

        threading.Thread(target=read, daemon=True).start()

    def until(self, pattern: str, seconds: float = 10.0) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for line in self.seen:
                if re.search(pattern, line):
                    return line
            try:
                self.seen.append(self._queue.get(timeout=0.1))
            except queue.Empty:
                pass
        raise AssertionError(f"no line matching {pattern!r} in {self.seen}")


def test_listen_forwards_verified_events_and_reports_a_tampered_one(mock_url: str) -> None:
    with receiver() as (got, hook):
        listener = subprocess.Popen([sys.executable, "-m", "mockserver", "listen", "--forward-to", hook,
                                     "--mock", mock_url, "--secret", SECRET], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        lines = Lines(listener)
        try:
            ready = lines.until(r"^Ready: ")
            own = re.search(r"come to (http://127\.0\.0\.1:\d+/)", ready)
            assert own is not None, ready
            assert "passed" in lines.until(r"URL check: ")
            assert SECRET not in "\n".join(lines.seen)  # given, so not printed
            shown = requests.get(f"{mock_url}/_mock/callbacks", timeout=5).json()
            assert shown["url"] == own.group(1) and shown["secret"] == "***"
            reply = requests.post(f"{mock_url}/v1/messages", headers=basic("listen", "pw"), timeout=10,
                                  json={"to": "+6591239999", "template": {"id": "sms-default"}})
            message_id = str(reply.json()["message_id"])
            for step in ("plan", "target_valid", "sent", "delivered"):
                line = lines.until(rf"message_status  {step}  message_id={message_id}")
                assert "[signature ok]" in line
            assert "-> 200 from " + hook in lines.until(r"-> 200 from ")
            got.wait(lambda: got.statuses(message_id) == ["plan", "target_valid", "sent", "delivered"])
            forwarded = got.callbacks[0]
            assert verify_callback_id(forwarded.headers["X-CALLBACK-ID"], "otp-mock-listen", SECRET)  # as it came

            tampered = forwarded.headers["X-CALLBACK-ID"][:-4] + "0000"
            answer = requests.post(own.group(1), timeout=5,
                                   data=b'{"total": 1, "rows": [{"status": {"message_status": "sent"}}]}',
                                   headers={"X-CALLBACK-ID": tampered, "Content-Type": "application/json"})
            assert answer.status_code == 401
            assert "signature INVALID" in lines.until(r"signature INVALID")
            assert "not forwarded" in lines.until(r"not forwarded")
            assert len(got.callbacks) == 1
        finally:
            listener.send_signal(signal.SIGINT)
            listener.wait(timeout=10)
            assert listener.stderr is not None
            err = listener.stderr.read()
            listener.stderr.close()
        assert listener.returncode == 0, err
        assert "configuration was removed" in lines.until(r"^Stopped")
        assert listener.stdout is not None
        lines.done.wait(5)
        listener.stdout.close()
        assert requests.get(f"{mock_url}/_mock/callbacks", timeout=5).status_code == 404


def test_listen_says_when_no_mock_answers() -> None:
    done = subprocess.run([sys.executable, "-m", "mockserver", "listen", "--mock", "http://127.0.0.1:1"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "no mock answers" in done.stderr
