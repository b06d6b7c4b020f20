"""Figures of the mock object itself: how long building a fresh one takes, and a lookup by
message id on Redis with many tenants.

    python bench/core.py [--builds 200] [--tenants 2000] [--lookups 300]

* build: `OtpMock(settings)` (what the testing helpers make per test) and `create_app(...)`,
  each `--builds` times in this process after 5 warm-up builds (the first compiles the
  contract, the scenario files and the starting templates; later ones reuse them): median and
  p95, in milliseconds.
* lookup: a throwaway redis-server on a free loopback port, `--tenants` dev_keys with 5 messages
  each (bulk-loaded through the store, tests/bulk.py), then the served mock (`otp-mock serve
  --store redis://...`, one process) answers `GET /_mock/messages/{id}` for `--lookups` ids
  drawn across the tenants, one request at a time over one kept-alive connection: median and
  p95 of the client's round trip, in milliseconds. Before the message-id index it walked every
  tenant (230 ms at 2,000).

Gated (exit status 1): build median < 30 ms; lookup median < 5 ms. Bounded: fixed counts,
timeouts on every wait; only 127.0.0.1 is contacted.
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "tests"))

from run import redis_server, wait_for_first_answer  # noqa: E402 - the benchmark's own helpers

from mockserver.web.workers import free_port  # noqa: E402

BUILD_LIMIT_MS = 30.0
LOOKUP_LIMIT_MS = 5.0


def percentiles(values: list[float]) -> tuple[float, float]:
    ordered = sorted(values)
    return statistics.median(ordered), ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]


def build_times(builds: int) -> dict[str, tuple[float, float]]:
    from mockserver import OtpMock, create_app

    out = {}
    for name, make in (("OtpMock()", lambda: OtpMock({"seed": 1})), ("create_app()", lambda: create_app({"seed": 1}))):
        for _ in range(5):
            make()
        times = []
        for _ in range(builds):
            started = time.perf_counter()
            make()
            times.append((time.perf_counter() - started) * 1000)
        out[name] = percentiles(times)
    return out


def lookup_times(tenants: int, lookups: int) -> tuple[float, float]:
    from bulk import bulk_load

    from mockserver.store.redisstore import RedisStore

    with tempfile.TemporaryDirectory(prefix="otp-bench-core-") as folder, redis_server(folder) as url:
        if url is None:
            raise SystemExit("redis-server is missing: apt-get install redis-server")
        store = RedisStore(url)
        ids: list[str] = []
        for n in range(tenants):
            ids += bulk_load(store, 5, tenant=f"tenant-{n:05d}", to_prefix=f"+9{n % 90 + 10}")
        store.close()
        port = free_port("127.0.0.1")
        command = [str(Path(sys.executable).parent / "otp-mock"), "serve", "--port", str(port), "--store", url,
                   "--set", "log_requests=false"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_for_first_answer(port, time.monotonic())
            rng = random.Random(7)  # noqa: S311 - which ids to look up
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            times = []
            for message_id in rng.sample(ids, min(lookups, len(ids))):
                started = time.perf_counter()
                conn.request("GET", f"/_mock/messages/{message_id}")
                reply = conn.getresponse()
                reply.read()
                times.append((time.perf_counter() - started) * 1000)
                if reply.status != 200:
                    raise SystemExit(f"lookup of {message_id} answered {reply.status}")
            conn.close()
            return percentiles(times)
        finally:
            process.terminate()
            process.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--builds", type=int, default=200)
    parser.add_argument("--tenants", type=int, default=2000)
    parser.add_argument("--lookups", type=int, default=300)
    args = parser.parse_args()
    failed = False
    for name, (median, p95) in build_times(min(max(args.builds, 1), 5000)).items():
        print(f"build {name:<14} median {median:6.2f} ms  p95 {p95:6.2f} ms")
        failed |= name == "OtpMock()" and median >= BUILD_LIMIT_MS
    median, p95 = lookup_times(min(max(args.tenants, 1), 100_000), min(max(args.lookups, 1), 10_000))
    print(f"GET /_mock/messages/{{id}} on Redis, {args.tenants} tenants: "
          f"median {median:.2f} ms  p95 {p95:.2f} ms")
    failed |= median >= LOOKUP_LIMIT_MS
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; "
          f"limits: build < {BUILD_LIMIT_MS:.0f} ms, lookup < {LOOKUP_LIMIT_MS:.0f} ms")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
