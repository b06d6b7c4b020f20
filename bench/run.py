"""Benchmark the served mock against a bare Flask app under the same server, on loopback.

    python bench/run.py [--duration 8] [--rounds 3] [--connections 32] [--threads 2]
                        [--server-threads N] [--only TEXT]

Targets: a bare Flask app served by the same server with the same options as the mock's
`--workers` (bench/bare.py: waitress in 2 forked processes pulling from one socket), and
the mock in one process and with 2 workers on each store: memory (one process only), SQLite,
and Redis when `redis-server` is installed (the benchmark starts its own on a free loopback
port). For each target it starts the server, measures the time to the first answer, runs wrk
(bounded: fixed duration, fixed connections) with POST /v1/messages and Basic auth, samples
the memory of the server's whole process tree during the run (PSS: a page shared by k
processes counts 1/k in each), and stops it. The targets run in turns, `--rounds` times, on
fresh state each time; the table gives each figure's median over the rounds, so a noisy
neighbour on a shared machine moves every target alike. A ratio is to the bare app of the same
round, and the table gives the median of each target's ratios.
Only 127.0.0.1 is ever contacted. wrk comes from Debian (`apt-get install wrk`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from mockserver.config import Settings  # the benchmark runs in the kit's venv
from mockserver.web.workers import free_port

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


def targets(port: int, folder: str, run: int, redis_url: str | None) -> dict[str, list[str]]:
    otp = [str(VENV_BIN / "otp-mock"), "serve", "--port", str(port)]
    found = {
        "bare flask, 2 workers": [sys.executable, str(HERE / "bare.py"), str(port), "2"],
        "mock, 1 process, memory": otp,
        "mock, 1 process, sqlite": [*otp, "--store", f"sqlite:{folder}/one-{run}.db"],
        "mock, 2 workers, sqlite": [*otp, "--workers", "2", "--store", f"sqlite:{folder}/two-{run}.db"],
    }
    if redis_url:
        found["mock, 2 workers, redis"] = [*otp, "--workers", "2", "--store", redis_url]
    return found


@contextmanager
def redis_server(folder: str) -> Iterator[str | None]:
    """A throwaway redis-server on a free loopback port, or None when it is not installed."""
    if shutil.which("redis-server") is None:
        yield None
        return
    port = free_port("127.0.0.1")
    process = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                "--appendonly", "no", "--dir", folder], stdout=subprocess.DEVNULL)
    try:
        wait_for_port(port)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_port(port: int, limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {limit} s")


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


def tree_memory_mib(pid: int) -> float:
    """Memory of a process and all its descendants: the sum of their proportional set sizes (PSS,
    /proc/PID/smaps_rollup), where a page shared by k processes counts 1/k in each, so the sum
    is the memory the group really holds (summing RSS would count shared pages k times)."""
    total, pending = 0, [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/smaps_rollup", encoding="ascii") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("Pss:"))
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
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if args.server_threads:
        env["OTP_MOCK_THREADS"] = env["OTP_MOCK_WORKER_THREADS"] = str(args.server_threads)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                               start_new_session=True)
    peak = [0.0]
    stop = threading.Event()
    try:
        startup = wait_for_first_answer(port, started)

        def sample() -> None:
            while not stop.wait(0.5):  # each sample takes a few ms of the kernel: not too often
                peak[0] = max(peak[0], tree_memory_mib(process.pid))

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
    parser.add_argument("--duration", type=int, default=8, help="seconds of load per target and round (max 60)")
    parser.add_argument("--rounds", type=int, default=3, help="turns over all targets (max 10)")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--server-threads", type=int, default=None,
                        help="threads per server process, for every target (default: the mock's defaults)")
    parser.add_argument("--only", default="", help="run only the targets whose name holds this text (and bare)")
    args = parser.parse_args()
    args.duration = min(max(args.duration, 1), 60)
    args.rounds = min(max(args.rounds, 1), 10)
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    runs: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="otp-bench-") as folder, redis_server(folder) as redis_url:
        for run in range(args.rounds):
            for name in targets(0, folder, run, redis_url):
                if args.only not in name and not name.startswith("bare"):
                    continue
                if redis_url and "redis" in name:
                    import redis

                    redis.Redis.from_url(redis_url).flushdb()
                port = free_port("127.0.0.1")
                runs.setdefault(name, []).append(measure(name, targets(port, folder, run, redis_url)[name], port, args))
    table = {name: median_result(name, results) for name, results in runs.items()}
    bare = next(results for n, results in runs.items() if n.startswith("bare"))
    print(f"{'target':<34} {'req/s':>8} {'ratio':>6} {'p50 ms':>7} {'p99 ms':>7} {'non-2xx':>8} "
          f"{'peak MiB':>9} {'start s':>8}  req/s (ratio) of each round")
    for r in table.values():
        # Each round's ratio is to the bare app of the same round (they ran a minute apart, so the
        # machine's noise moves both); the table gives the median of those ratios.
        ratios = [x.rps / (b.rps or 1.0) for x, b in zip(runs[r.name], bare, strict=True)]
        each = " ".join(f"{x.rps:.0f} ({q:.2f})" for x, q in zip(runs[r.name], ratios, strict=True))
        print(f"{r.name:<34} {r.rps:>8.0f} {statistics.median(ratios):>6.2f} {r.p50_ms:>7.2f} {r.p99_ms:>7.2f} "
              f"{r.errors:>8} {r.peak_mib:>9.1f} {r.startup_s:>8.2f}  {each}")
    threads = args.server_threads or f"{Settings().threads} (1 process), {Settings().worker_threads} (workers)"
    print(f"\nmedians of {args.rounds} rounds, threads per server process: {threads}; machine: "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"wrk -t{args.threads} -c{args.connections} -d{args.duration}s, POST /v1/messages with Basic auth, "
          "loopback only")
    return 0


def median_result(name: str, results: list[Result]) -> Result:
    def mid(values: list[float]) -> float:
        return statistics.median(values)

    return Result(name, mid([r.rps for r in results]), mid([r.p50_ms for r in results]),
                  mid([r.p99_ms for r in results]), max(r.errors for r in results),
                  mid([r.peak_mib for r in results]), mid([r.startup_s for r in results]))


if __name__ == "__main__":
    sys.exit(main())
