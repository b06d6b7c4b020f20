"""The session's one served mock under pytest-xdist: the controller starts `otp-mock serve` on
a free loopback port as a process of its own, the workers wait for its URL (only those whose
tests use `otp_mock_server`), and the controller stops it at the end. Only the standard
library here: the controller never loads the mock.

A process rather than `serve_in_thread` in the controller: four workers' requests then have a
GIL of their own instead of contending with the controller's own work (xdist's reports), and
the tests run against `otp-mock serve` itself, the server CI and `--otp-mock-url` use.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

START_SECONDS = 60.0  # how long a worker waits for the server's first line
_SERVING = re.compile(r"OTP mock serving the EngageLab OTP API at (http://127\.0\.0\.1:\d+)")


class SharedServer:
    """`otp-mock serve --host 127.0.0.1 --port 0` in a process of its own, its output in `log`."""

    def __init__(self, seed: int | None) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="otp-mock-shared-"))
        self.log = self.folder / "serve.log"
        command = [sys.executable, "-m", "mockserver", "serve", "--host", "127.0.0.1", "--port", "0",
                   "--set", "max_delay_seconds=0"]  # delays are not slept, as serve_in_thread does
        if seed is not None:
            command += ["--seed", str(seed)]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("OTP_MOCK_")}  # its defaults only
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,  # noqa: S603
                                            cwd=self.folder, env=environ)

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 10 s) and remove its folder."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        shutil.rmtree(self.folder, ignore_errors=True)


def wait_for_url(log: str, seconds: float = START_SECONDS) -> str:
    """The URL the shared server announced in its log, waiting for it up to `seconds`."""
    deadline = time.monotonic() + seconds
    text = ""
    while time.monotonic() < deadline:
        text = Path(log).read_text(encoding="utf-8", errors="replace") if Path(log).exists() else ""
        found = _SERVING.search(text)
        if found:
            return found.group(1)
        if "error:" in text or "Traceback" in text:
            break
        time.sleep(0.05)
    raise RuntimeError(f"the session's shared OTP mock (otp-mock serve) did not start within {seconds:.0f} s; "
                       f"it said: {text[-1500:] or 'nothing'}")
