"""`otp-mock serve --workers N`: N worker processes forked from one master, sharing one store.

The app is built once, in the master; its objects are frozen out of the garbage collector's
reach (`gc.freeze`) and the workers are forked from it, so the compiled contract and the
imported modules sit in memory pages the processes share. The master opens the one listening
socket and the workers inherit it; each is a waitress server (the same server, with the
transport faults, as the single-process mock) that pulls: it accepts a connection only while
it has a free request thread and closes it after the reply (see `server.py`), so the kernel's
queue gives each request to a free worker. No other connection crosses the fork: the stores
open their own in each process. State is shared through the store, so a code sent through one
worker verifies through another, once.

The master only supervises: it starts a worker again if one dies (at most MAX_RESTARTS in
RESTART_WINDOW seconds, then it stops everything) and on SIGINT/SIGTERM stops the workers,
each finishing its requests for up to GRACE_SECONDS.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from flask import Flask

from mockserver.config import Settings
from mockserver.errors import MockError
from mockserver.web.server import defer_accept

log = logging.getLogger("mockserver")
GRACE_SECONDS = 5.0
START_SECONDS = 30.0
MAX_RESTARTS, RESTART_WINDOW = 5, 10.0
AT_EXIT: list[Callable[[], None]] = []  # what a worker runs as it leaves (its log writer's stop)
PR_SET_PDEATHSIG = 1  # prctl(2)


def free_port(host: str) -> int:
    """A port the OS says is free now (for the benchmark's servers and the tests' Redis)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listener(host: str, port: int) -> socket.socket:
    """The listening socket that every worker accepts from."""
    sock = socket.socket(_family(host), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(1024)
        defer_accept(sock)
    except OSError:
        sock.close()
        raise
    return sock


def run(settings: Settings, workers: int, app: Flask, announce: Callable[[str], None],
        serve: Callable[[Flask, socket.socket, Settings], None]) -> None:
    """Serve until SIGINT/SIGTERM; `announce` gets the base URL once every worker has started.
    `serve(app, socket, settings)` runs one worker's server until it is interrupted."""
    if not hasattr(os, "fork"):
        raise MockError("--workers needs os.fork (Linux, macOS); run one process here")
    try:
        sock = listener(settings.host, settings.port)
    except OSError as exc:
        raise MockError(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror}; "
                        "pick another --port (0 picks a free one)") from None
    with sock:
        port = int(sock.getsockname()[1])
        Master(settings, sock, workers, app, serve).run(lambda: announce(f"http://{settings.host}:{port}"))


class Master:
    """Forks the workers, starts them again when they die, stops them on a signal."""

    def __init__(self, settings: Settings, sock: socket.socket, workers: int, app: Flask,
                 serve: Callable[[Flask, socket.socket, Settings], None]) -> None:
        self.settings, self.sock, self.count, self.app, self.serve = settings, sock, workers, app, serve
        self.children: set[int] = set()
        self.stopping = False
        self.deaths: list[float] = []

    def run(self, ready: Callable[[], None]) -> None:
        previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            gc.freeze()  # what the master built is shared with the workers, untouched by their collections
            self._start_all()
            if not self.stopping:
                ready()
            self._supervise()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._terminate()

    def _stop(self, *_: Any) -> None:
        self.stopping = True
        for pid in list(self.children):
            _kill(pid, signal.SIGTERM)

    def _start_all(self) -> None:
        read, write = os.pipe()
        try:
            for _ in range(self.count):
                self._fork(write)
            os.close(write)
            write = -1
            deadline = time.monotonic() + START_SECONDS
            started = 0
            while started < self.count and not self.stopping:
                if time.monotonic() > deadline:
                    raise MockError(f"the workers did not start within {START_SECONDS:.0f} s")
                try:
                    got = os.read(read, self.count)
                except InterruptedError:
                    continue
                if not got:  # every write end is closed: a worker died before it listened
                    raise MockError(f"a worker could not start (serving {self.settings.host}:"
                                    f"{self.sock.getsockname()[1]}); "
                                    "see its message above")
                started += len(got)
        finally:
            os.close(read)
            if write >= 0:
                os.close(write)

    def _fork(self, ready: int) -> None:
        master = os.getpid()
        pid = os.fork()
        if pid == 0:  # the worker: never returns into the master's code
            code = 1
            try:
                signal.signal(signal.SIGINT, signal.default_int_handler)
                signal.signal(signal.SIGTERM, _interrupt)
                _die_with(master)
                if ready >= 0:
                    os.write(ready, b"1")
                    os.close(ready)
                self.serve(self.app, self.sock, self.settings)
                code = 0
            except KeyboardInterrupt:
                code = 0
            except BaseException:  # noqa: BLE001 - reported, then the worker leaves
                log.exception("worker %d failed", os.getpid())
            finally:
                _leave(self.app, code)
        self.children.add(pid)

    def _supervise(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0 if not self.stopping else os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if pid == 0:  # stopping: the workers are finishing; the grace is counted in _terminate
                return
            self.children.discard(pid)
            if self.stopping:
                continue
            self._restart(pid, status)

    def _restart(self, pid: int, status: int) -> None:
        now = time.monotonic()
        self.deaths = [t for t in self.deaths if now - t < RESTART_WINDOW] + [now]
        how = f"exit code {os.waitstatus_to_exitcode(status)}"
        if len(self.deaths) > MAX_RESTARTS:
            log.error("worker %d stopped (%s); %d workers died within %.0f s: stopping", pid, how,
                      len(self.deaths), RESTART_WINDOW)
            self._stop()
            return
        log.warning("worker %d stopped (%s); starting another", pid, how)
        self._fork(-1)

    def _terminate(self) -> None:
        """Ask the workers that remain to stop; kill those still there after the grace."""
        for pid in list(self.children):
            _kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        while self.children and time.monotonic() < deadline:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                break
            if pid:
                self.children.discard(pid)
            else:
                time.sleep(0.02)
        for pid in self.children:
            _kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        self.children.clear()


def _interrupt(*_: Any) -> None:
    raise KeyboardInterrupt


def _die_with(master: int) -> None:
    """A worker stops when its master dies, however it dies (SIGKILL included): the kernel sends
    SIGTERM on Linux (PR_SET_PDEATHSIG); elsewhere a thread watches the parent."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) == 0:
            if os.getppid() != master:  # it died before the call: nobody would send the signal
                os.kill(os.getpid(), signal.SIGTERM)
            return
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == master:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, name="master-watch", daemon=True).start()


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except OSError as exc:
        if exc.errno != errno.ESRCH:
            raise


def _leave(app: Flask, code: int) -> None:
    """A worker's last act: write what its log still holds, then exit without running the
    master's clean-up (atexit handlers, finally blocks up the stack)."""
    try:
        for hook in AT_EXIT:
            hook()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)
