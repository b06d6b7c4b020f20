"""Benchmark the served mock against a bare Flask app under the same server, on loopback.

    python bench/run.py [--duration 10] [--connections 32] [--threads 2]

For each target it starts the server, measures the time to the first answer, runs wrk
(bounded: fixed duration, fixed connections) with POST /v1/messages and Basic auth, samples the
memory (RSS) of the server's whole process tree during the run, stops the server, and prints
req/s, p50 and p99 latency, peak memory and start-up time, with the ratio to the bare app.
Only 127.0.0.1 is ever contacted. wrk comes from Debian (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from mockserver.web.workers import free_port  # the benchmark runs in the kit's venv

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV_BIN = Path(sys.executable).parent
LUA = HERE / "send.lua"


@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    peak_mib: float
    startup_s: float


def targets(port: int, folder: str) -> dict[str, list[str]]:
    gunicorn = [str(VENV_BIN / "gunicorn"), "--chdir", str(HERE), "-k", "gthread", "--threads", "8",
                "--no-control-socket", "-b", f"127.0.0.1:{port}"]
    otp = [str(VENV_BIN / "otp-mock"), "serve", "--port", str(port)]
    return {
        "bare flask, gunicorn 2 workers": [*gunicorn, "-w", "2", "bare:create_app()"],
        "mock, 1 process (waitress, memory)": otp,
        "mock, 2 workers (gunicorn, sqlite)": [*otp, "--workers", "2", "--store", f"sqlite:{folder}/bench.db"],
    }


def wait_for_first_answer(port: int, started: float, limit: float = 20.0) -> float:
    request = b"GET /_mock/health HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    while time.monotonic() - started < limit:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
                conn.sendall(request)
                if conn.recv(16):
                    return time.monotonic() - started
        except OSError:
            time.sleep(0.01)
    raise RuntimeError(f"no answer on port {port} within {limit} s")


def tree_rss_mib(pid: int) -> float:
    """Resident memory of a process and all its descendants, from /proc."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/status", encoding="ascii") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, StopIteration):
            continue
        pending.extend(int(child) for child in children)
    return total / 1024


def run_wrk(port: int, duration: int, connections: int, threads: int) -> tuple[float, float, float, int]:
    out = subprocess.run(["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency", "-s",
                          str(LUA), f"http://127.0.0.1:{port}/v1/messages"],
                         capture_output=True, text=True, timeout=duration + 30, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latency = {p: _ms(v) for p, v in re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, latency["50"], latency["99"], int(errors.group(1)) if errors else 0


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def measure(name: str, command: list[str], port: int, args: argparse.Namespace) -> Result:
    started = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"}, start_new_session=True)
    peak = [0.0]
    stop = threading.Event()
    try:
        startup = wait_for_first_answer(port, started)

        def sample() -> None:
            while not stop.wait(0.2):
                peak[0] = max(peak[0], tree_rss_mib(process.pid))

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        rps, p50, p99, errors = run_wrk(port, args.duration, args.connections, args.threads)
        stop.set()
        sampler.join(timeout=2)
        return Result(name, rps, p50, p99, errors, peak[0], startup)
    finally:
        stop.set()
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=int, default=10, help="seconds of load per target (max 60)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    args.duration = min(max(args.duration, 1), 60)
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    results = []
    with tempfile.TemporaryDirectory(prefix="otp-bench-") as folder:
        for name in targets(0, folder):
            port = free_port("127.0.0.1")
            results.append(measure(name, targets(port, folder)[name], port, args))
    bare = results[0].rps or 1.0
    print(f"{'target':<38} {'req/s':>8} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} "
          f"{'peak MiB':>9} {'start s':>8}")
    for r in results:
        print(f"{r.name:<38} {r.rps:>8.0f} {r.rps / bare:>6.2f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
              f"{r.errors:>8} {r.peak_mib:>9.1f} {r.startup_s:>8.2f}")
    print(f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; wrk -t{args.threads} "
          f"-c{args.connections} -d{args.duration}s, POST /v1/messages with Basic auth, loopback only")
    return 0


if __name__ == "__main__":
    sys.exit(main())
