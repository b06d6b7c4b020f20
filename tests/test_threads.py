"""A daemon thread per serving process (mockserver.threads): started once per process, a
forked child starts its own, stop() ends it; the mock's close() ends its background threads."""

from __future__ import annotations

import os
import threading
import time

import pytest

from mockserver import OtpMock
from mockserver.threads import ProcessThread


def test_one_thread_per_process_until_stopped() -> None:
    started: list[int] = []

    def run(stopped: threading.Event) -> None:
        started.append(threading.get_ident())
        stopped.wait()

    worker = ProcessThread("test-worker", run)
    for _ in range(5):
        worker.ensure()
    time.sleep(0.05)
    assert len(started) == 1 and worker.running()
    assert [t.name for t in threading.enumerate()].count("test-worker") == 1
    worker.stop()
    assert not worker.running() and "test-worker" not in [t.name for t in threading.enumerate()]
    worker.ensure()  # started again after a stop
    time.sleep(0.05)
    assert len(started) == 2
    worker.stop()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_starts_its_own() -> None:
    reader, writer = os.pipe()

    def run(stopped: threading.Event) -> None:
        os.write(writer, str(os.getpid()).encode() + b"\n")
        stopped.wait()

    worker = ProcessThread("forked-worker", run)
    worker.ensure()
    child = os.fork()
    if child == 0:  # the child: the parent's thread did not come along
        try:
            alive = "forked-worker" in [t.name for t in threading.enumerate()]
            worker.ensure()
            time.sleep(0.1)
            os._exit(3 if alive else 0)
        finally:
            os._exit(4)
    _, status = os.waitpid(child, 0)
    worker.stop()
    seen = os.read(reader, 200).decode().split()
    os.close(reader)
    os.close(writer)
    assert os.waitstatus_to_exitcode(status) == 0
    assert seen == [str(os.getpid()), str(child)]


def test_closing_a_serving_mock_ends_its_background_threads() -> None:
    before = set(threading.enumerate())
    mock = OtpMock({"housekeeping_seconds": 0.05})
    mock.start()
    assert mock.handle("GET", "/_mock/health").status == 200
    mine = set(threading.enumerate()) - before
    assert {t.name for t in mine} >= {"housekeeping", "callbacks"}
    mock.close()
    for thread in mine:
        thread.join(3)
    assert [t.name for t in mine if t.is_alive()] == []
