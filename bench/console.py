"""Does an open console cost the API its capacity? The API's req/s on POST /v1/messages with
10 console tabs open and receiving updates, against none, on one process and on 2 workers.

    python bench/console.py [--duration 4] [--rounds 8] [--tabs 10] [--connections 32]
                            [--server-cpus 0] [--client-cpus 1] [--no-pin]

For each target the served mock starts once, then wrk (bench/send.lua: fixed duration and
connections) runs in turns, `--rounds` times, after a warm-up:

- none: the tabs of Debian's Chromium (Playwright) are open on about:blank: no console;
- live: the same tabs on the inbox while the sends pour in. Twice during the load and once
  after it, the first and the last tab must show a newer message than before, or the run fails:
  the tabs really receive the flood. The console's requests are counted (one browser shares one
  poll between its tabs);
- pollers: no browser; `--tabs` threads ask /_mock/inbox as ten *separate* browsers would
  (after their cursor, 50 rows, every 0.5 s): what the console costs the mock itself.

Each round's ratios (live/none, pollers/none) are to the none of the same round, and the table
gives their medians; both must be >= 0.90. The mock runs on its own CPUs, and the browser, wrk
and the pollers on the others (`--server-cpus`/`--client-cpus`; by default the first half of the
machine's CPUs for the mock): the question is what the console costs the mock, not what a
browser drawing ten windows costs a machine that also runs the mock. On a 2-core machine the
mock gets one core, so its 2 workers share it. `--no-pin` runs everything on every CPU; the
figures are then the whole machine's (printed, judged the same).
Only 127.0.0.1 is ever contacted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from browser import FLAGS, chromium_path  # noqa: E402 - the tests' Chromium flags
from run import VENV_BIN, free_port, run_wrk, wait_for_first_answer  # noqa: E402

TARGET = 0.90
WARM_UP_SECONDS = 3


def cpu_sets(args: argparse.Namespace) -> tuple[set[int] | None, set[int] | None]:
    """The CPUs of the mock and of the clients (None: not pinned)."""
    mine = sorted(os.sched_getaffinity(0))
    if args.no_pin or len(mine) < 2:
        return None, None
    def parse(text: str) -> set[int]:
        return {int(part) for part in text.split(",") if part.strip()}
    half = len(mine) // 2
    server = parse(args.server_cpus) if args.server_cpus else set(mine[:half])
    client = parse(args.client_cpus) if args.client_cpus else set(mine) - server
    if not server or not client or server & client:
        raise SystemExit(f"--server-cpus {sorted(server)} and --client-cpus {sorted(client)} must be two "
                         "non-empty, separate sets of this machine's CPUs")
    return server, client


def serve(port: int, extra: list[str], cpus: set[int] | None) -> subprocess.Popen[bytes]:
    command = [str(VENV_BIN / "otp-mock"), "serve", "--port", str(port), "--set", "log_requests=false", *extra]
    pin: Callable[[], None] | None = (lambda: os.sched_setaffinity(0, cpus)) if cpus else None
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=pin,  # noqa: PLW1509
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    wait_for_first_answer(port, time.monotonic())
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def shown(page: Any) -> str:
    """The newest message the tab shows."""
    return str(page.evaluate("(document.querySelector('#rows tr.msg') || {dataset: {}}).dataset.id"))


def pollers(url: str, count: int, stop: threading.Event) -> list[threading.Thread]:
    """Threads that ask /_mock/inbox as separate browsers' tabs do (after the cursor, 50 rows, every 0.5 s)."""
    def poll() -> None:
        cursor = 0
        with requests.Session() as session:
            while not stop.wait(0.5):
                page = session.get(f"{url}/_mock/inbox", params={"after": cursor, "limit": 50}, timeout=30).json()
                cursor = page["cursor"]

    threads = [threading.Thread(target=poll, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return threads


class Bench:
    def __init__(self, browser: Any, url: str, port: int, args: argparse.Namespace) -> None:
        self.url, self.port, self.args = url, port, args
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.tabs = [self.context.new_page() for _ in range(args.tabs)]
        self.polls = 0
        self.context.on("request", self._count)

    def _count(self, request: Any) -> None:
        if "/_mock/inbox" in request.url:
            self.polls += 1

    def load(self, seconds: int | None = None) -> float:
        requests.post(f"{self.url}/_mock/reset", json={}, timeout=30).raise_for_status()  # same recipients: no 3004
        return float(run_wrk(self.port, seconds or self.args.duration, self.args.connections, 2)[0])

    def none(self) -> float:
        return self.load()

    def live(self) -> tuple[float, float]:
        for tab in self.tabs:
            tab.goto(f"{self.url}/")
            tab.locator("#live").wait_for()
        watched = [self.tabs[0], self.tabs[-1]]
        seen = [[shown(tab) for tab in watched]]
        found: list[float] = []
        loader = threading.Thread(target=lambda: found.append(self.load()))
        self.polls, started = 0, time.monotonic()
        loader.start()
        for moment in (0.4, 0.8):  # Playwright is driven from this thread only, and counts while it waits
            watched[0].wait_for_timeout(max(0.0, started + moment * self.args.duration - time.monotonic()) * 1000)
            seen.append([shown(tab) for tab in watched])
        while loader.is_alive() and time.monotonic() - started < self.args.duration + 60:
            watched[0].wait_for_timeout(100)
        polls_per_second = self.polls / (time.monotonic() - started)
        watched[0].wait_for_timeout(1500)
        seen.append([shown(tab) for tab in watched])
        for before, after in zip(seen, seen[1:], strict=False):
            if any(a == b for a, b in zip(after, before, strict=True)):
                raise RuntimeError(f"a tab showed no newer message while the sends poured in: {seen}")
        for tab in self.tabs:
            tab.goto("about:blank")
        if not found:
            raise RuntimeError("wrk did not finish")
        return found[0], polls_per_second

    def pollers(self) -> float:
        stop = threading.Event()
        threads = pollers(self.url, self.args.tabs, stop)
        try:
            return self.load()
        finally:
            stop.set()
            for thread in threads:
                thread.join(timeout=35)

    def close(self) -> None:
        self.context.close()


def run_target(browser: Any, extra: list[str], cpus: set[int] | None,
               args: argparse.Namespace) -> list[dict[str, float]]:
    port = free_port("127.0.0.1")
    process = serve(port, extra, cpus)
    bench = Bench(browser, f"http://127.0.0.1:{port}", port, args)
    try:
        bench.load(WARM_UP_SECONDS)  # the first seconds of a fresh server are slower
        rounds = []
        for index in range(args.rounds):
            found: dict[str, float] = {}
            order = ("none", "live") if index % 2 == 0 else ("live", "none")  # drift moves both alike
            for name in order:
                if name == "none":
                    found["none"] = bench.none()
                else:
                    found["live"], found["polls/s"] = bench.live()
            found["pollers"] = bench.pollers()
            rounds.append(found)
            print(f"  round {index + 1}: none {found['none']:.0f}, live {found['live']:.0f} "
                  f"({found['polls/s']:.1f} polls/s), pollers {found['pollers']:.0f} req/s", flush=True)
        return rounds
    finally:
        bench.close()
        stop_server(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=4, help="seconds of load per measure (max 60)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds per target (max 15)")
    parser.add_argument("--tabs", type=int, default=10, help="console tabs (max 30)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--server-cpus", default="", help="CPUs of the mock, e.g. 0 or 0,1 (default: the first half)")
    parser.add_argument("--client-cpus", default="", help="CPUs of the browser, wrk and pollers (default: the rest)")
    parser.add_argument("--no-pin", action="store_true", help="run the mock and its clients on every CPU")
    args = parser.parse_args()
    args.duration, args.rounds, args.tabs = min(max(args.duration, 2), 60), min(max(args.rounds, 1), 15), \
        min(max(args.tabs, 1), 30)
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    server_cpus, client_cpus = cpu_sets(args)
    if client_cpus:
        os.sched_setaffinity(0, client_cpus)  # the browser, wrk and the pollers inherit it
    from playwright.sync_api import sync_playwright

    failed = False
    with tempfile.TemporaryDirectory(prefix="otp-bench-console-") as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        targets = {"mock, 1 process, memory": [],
                   "mock, 2 workers, sqlite": ["--workers", "2", "--store", f"sqlite:{folder}/console.db"]}
        results: list[str] = []
        for name, extra in targets.items():
            print(name, flush=True)
            rounds = run_target(browser, extra, server_cpus, args)

            def mid(key: str, of: list[dict[str, float]] = rounds) -> float:
                return statistics.median(r[key] for r in of)

            def ratio(top: str, of: list[dict[str, float]] = rounds) -> float:
                return statistics.median(r[top] / r["none"] for r in of)

            console, server = ratio("live"), ratio("pollers")
            results.append(f"{name:<26} {mid('none'):>6.0f} {mid('live'):>6.0f} {mid('pollers'):>8.0f} "
                           f"{console:>10.2f} {server:>13.2f} {mid('polls/s'):>12.1f}")
            failed |= console < TARGET or server < TARGET
        browser.close()
    print(f"\n{'target':<26} {'none':>6} {'live':>6} {'pollers':>8} {'live/none':>10} {'pollers/none':>13} "
          f"{'tab polls/s':>12}  (req/s, medians)")
    print("\n".join(results))
    where = (f"the mock on CPUs {sorted(server_cpus)}, the browser, wrk and the pollers on {sorted(client_cpus or [])}"
             if server_cpus else "everything on every CPU (--no-pin)")
    print(f"{args.tabs} tabs of one browser on the inbox (or {args.tabs} separate pollers every 0.5 s); wrk -t2 "
          f"-c{args.connections} -d{args.duration}s POST /v1/messages; medians of {args.rounds} rounds; live/none and "
          f"pollers/none must stay >= {TARGET:.2f}; {os.cpu_count()} CPUs: {where}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
