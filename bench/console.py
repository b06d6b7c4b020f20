"""Does an open console cost the API its capacity? The API's req/s on POST /v1/messages with
10 console tabs open and receiving updates, against none, on one process and on 2 workers.

    python bench/console.py [--duration 8] [--rounds 3] [--tabs 10] [--connections 32]

For each target, each round starts the served mock afresh and runs wrk (bench/send.lua, bounded:
fixed duration and connections) twice: with no tab, then with `--tabs` pages of Debian's Chromium
(Playwright) on the inbox, each polling /_mock/inbox twice a second while the sends pour in (the
first and the last page must show a newer message afterwards, or the round fails). The table gives the
medians of the rounds and the ratio tabs/none; the target is >= 0.90. The browser runs on the
same machine as the mock and wrk, so its own CPU is counted against the mock: the figure is a
floor. Only 127.0.0.1 is ever contacted.
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


def stop(process: subprocess.Popen[bytes]) -> None:
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


def one_round(browser: Any, extra: list[str], args: argparse.Namespace) -> tuple[float, float]:
    port = free_port("127.0.0.1")
    process = serve(port, extra)
    url = f"http://127.0.0.1:{port}"
    try:
        none = run_wrk(port, args.duration, args.connections, 2)[0]
        requests.post(f"{url}/_mock/reset", json={}, timeout=30).raise_for_status()  # same recipients: no 3004
        tabs = open_tabs(browser, url, args.tabs)
        before = [shown(tabs[0]), shown(tabs[-1])]
        with_tabs = run_wrk(port, args.duration, args.connections, 2)[0]
        time.sleep(1.0)
        after = [shown(tabs[0]), shown(tabs[-1])]
        if any(a == b for a, b in zip(after, before, strict=True)):
            raise RuntimeError(f"the tabs showed no new message during the load ({before} -> {after})")
        tabs[0].context.close()
        return none, with_tabs
    finally:
        stop(process)


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
    print(f"{'target':<28} {'none req/s':>11} {'tabs req/s':>11} {'ratio':>6}  each round (none / tabs)")
    with tempfile.TemporaryDirectory(prefix="otp-bench-console-") as folder, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=FLAGS)
        targets = {"mock, 1 process, memory": [],
                   "mock, 2 workers, sqlite": ["--workers", "2", "--store", f"sqlite:{folder}/console.db"]}
        for name, extra in targets.items():
            rounds = []
            for index in range(args.rounds):
                if "sqlite" in name:
                    extra = [*extra[:-1], f"sqlite:{folder}/console-{index}.db"]
                rounds.append(one_round(browser, extra, args))
            none = statistics.median(r[0] for r in rounds)
            tabs = statistics.median(r[1] for r in rounds)
            ratio = statistics.median(r[1] / r[0] for r in rounds)
            failed |= ratio < TARGET
            each = " ".join(f"{a:.0f}/{b:.0f}" for a, b in rounds)
            print(f"{name:<28} {none:>11.0f} {tabs:>11.0f} {ratio:>6.2f}  {each}")
        browser.close()
    print(f"\n{args.tabs} tabs polling /_mock/inbox every 0.5 s; wrk -t2 -c{args.connections} -d{args.duration}s "
          f"POST /v1/messages; medians of {args.rounds} rounds; target ratio >= {TARGET:.2f}; machine: "
          f"{os.cpu_count()} cores (the browser shares them)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
