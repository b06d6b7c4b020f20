"""Does an open console cost the API its capacity? The API's req/s on POST /v1/messages with
10 console tabs open and receiving updates, against none, on one process and on 2 workers.

    python bench/console.py [--duration 8] [--rounds 3] [--tabs 10] [--connections 32]

Each round starts the served mock afresh and runs wrk (bench/send.lua, bounded: fixed duration
and connections) four times:

- none: no tab;
- static: `--tabs` pages of Debian's Chromium (Playwright) on a console page that polls nothing
  (Controls): what the browser itself costs this machine;
- live: the same tabs on the inbox, each polling /_mock/inbox twice a second while the sends
  pour in (the first and the last tab must show a newer message afterwards, or the round fails);
- pollers: the browser closed, `--tabs` threads asking /_mock/inbox exactly as a tab does: what
  the console costs the mock when the browser runs on another machine.

The browser shares this 2-core machine with the mock and wrk: an idle headless Chromium with 10
pages takes about half a core whatever they show. So the console's own cost is live/static and
pollers/none; both must be >= 0.90. live/none is printed too (the whole machine's view). Only
127.0.0.1 is ever contacted.
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
from pathlib import Path
from typing import Any

import requests

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "tests")]

from browser import FLAGS, chromium_path  # noqa: E402 - the tests' Chromium flags
from run import VENV_BIN, free_port, run_wrk, wait_for_first_answer  # noqa: E402

TARGET = 0.90


def serve(port: int, extra: list[str]) -> subprocess.Popen[bytes]:
    command = [str(VENV_BIN / "otp-mock"), "serve", "--port", str(port), "--set", "log_requests=false", *extra]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    wait_for_first_answer(port, time.monotonic())
    return process


def stop_server(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


def open_tabs(browser: Any, url: str, count: int) -> list[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    pages = []
    for _ in range(count):
        page = context.new_page()
        page.goto(f"{url}/")
        page.locator("#live").wait_for()
        pages.append(page)
    return pages


def shown(page: Any) -> str:
    """The newest message the tab shows."""
    return str(page.evaluate("(document.querySelector('#rows tr.msg') || {dataset: {}}).dataset.id"))


def pollers(url: str, count: int, stop: threading.Event) -> list[threading.Thread]:
    """Threads that ask /_mock/inbox as a tab's script does (after the cursor, 50 rows, every 0.5 s)."""
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


def one_round(browser: Any, extra: list[str], args: argparse.Namespace) -> dict[str, float]:
    port = free_port("127.0.0.1")
    process = serve(port, extra)
    url = f"http://127.0.0.1:{port}"

    def load() -> float:
        requests.post(f"{url}/_mock/reset", json={}, timeout=30).raise_for_status()  # same recipients: no 3004
        return float(run_wrk(port, args.duration, args.connections, 2)[0])

    try:
        found = {"none": load()}
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        tabs = [context.new_page() for _ in range(args.tabs)]
        for tab in tabs:
            tab.goto(f"{url}/_mock/console/controls")
        found["static"] = load()
        for tab in tabs:
            tab.goto(f"{url}/")
            tab.locator("#live").wait_for()
        before = [shown(tabs[0]), shown(tabs[-1])]
        found["live"] = load()
        time.sleep(1.0)
        after = [shown(tabs[0]), shown(tabs[-1])]
        if any(a == b for a, b in zip(after, before, strict=True)):
            raise RuntimeError(f"the tabs showed no new message during the load ({before} -> {after})")
        context.close()
        stop = threading.Event()
        threads = pollers(url, args.tabs, stop)
        found["pollers"] = load()
        stop.set()
        for thread in threads:
            thread.join(timeout=35)
        return found
    finally:
        stop_server(process)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per measure (max 60)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per target (max 10)")
    parser.add_argument("--tabs", type=int, default=10, help="console tabs (max 30)")
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    args.duration, args.rounds, args.tabs = min(max(args.duration, 1), 60), min(max(args.rounds, 1), 10), \
        min(max(args.tabs, 1), 30)
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    failed = False
    print(f"{'target':<26} {'none':>6} {'static':>7} {'live':>6} {'pollers':>8} {'live/static':>12} "
          f"{'pollers/none':>13} {'live/none':>10}  (req/s, medians)")
    with tempfile.TemporaryDirectory(prefix="otp-bench-console-") as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        targets = {"mock, 1 process, memory": lambda i: [],
                   "mock, 2 workers, sqlite": lambda i: ["--workers", "2", "--store", f"sqlite:{folder}/c-{i}.db"]}
        for name, extra in targets.items():
            rounds = [one_round(browser, extra(index), args) for index in range(args.rounds)]

            def mid(key: str, of: list[dict[str, float]] = rounds) -> float:
                return statistics.median(r[key] for r in of)

            def ratio(top: str, bottom: str, of: list[dict[str, float]] = rounds) -> float:
                return statistics.median(r[top] / r[bottom] for r in of)

            console, server = ratio("live", "static"), ratio("pollers", "none")
            failed |= console < TARGET or server < TARGET
            print(f"{name:<26} {mid('none'):>6.0f} {mid('static'):>7.0f} {mid('live'):>6.0f} {mid('pollers'):>8.0f} "
                  f"{console:>12.2f} {server:>13.2f} {ratio('live', 'none'):>10.2f}")
        browser.close()
    print(f"\n{args.tabs} tabs (or pollers) asking /_mock/inbox every 0.5 s; wrk -t2 -c{args.connections} "
          f"-d{args.duration}s POST /v1/messages; medians of {args.rounds} rounds; the console's cost "
          f"(live/static, pollers/none) must stay >= {TARGET:.2f}; machine: {os.cpu_count()} cores, shared "
          "by the browser, the mock and wrk")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
