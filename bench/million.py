"""Does the memory store stay flat with a million messages? Send/verify latency and memory.

    python bench/million.py [--count 1000000] [--rounds 5] [--per-round 400]

For N = 1,000 and N = --count, each in FRESH subprocesses (no state, allocator slack or
garbage-collector history carries over), the real app is built in-process with
`create_app(..., store=MemoryStore(...))` (default settings otherwise, request logging off), N
`send_otp` messages are bulk-loaded into the tenant of the requests through
`tests/bulk.py` (straight `insert_messages` calls, no HTTP), and then:

* latency child (no tracing): after a warm-up, `--rounds` rounds of `--per-round` timed
  POST /v1/messages (template `sms-default`, recipients +44 7700 900000.. from Ofcom's drama
  range, reused from round to round once verified) followed by as many timed
  POST /v1/verifications of the codes just sent (read from the store, untimed). Requests go
  through Flask's test client, so the figures include the whole request path (routing, Basic
  auth, contract validation of request and response, scenario engine, journal, store) but no
  socket. p50 and p99 are taken per round and the median over rounds is reported. Then the
  purge: the store's real clock (`real_time=`) is moved past ttl + retention and one more
  message is sent (a send purges a bounded share, so it stays fast however many expire at
  once), then `store.purge()` takes the rest; the message count must drop to 1.
* memory child: bytes per stored message = bytes that tracemalloc sees allocated by the bulk
  load and still alive after it, divided by N. Why tracemalloc and not RSS: it counts exactly
  the Python objects the store keeps (messages, events, strings, its dicts and purge heap),
  while at N = 1,000 (about 1.5 MB) the RSS delta is dominated by arena and page granularity.
  Tracing makes the load about 4x slower, hence its own subprocess. RSS delta / N from the
  latency child is printed too, for information. Then the purge runs under tracing and the
  bytes still held afterwards are reported.

"Memory does not grow beyond 1.5x its value at 1,000 messages" is read as memory PER STORED
MESSAGE (a million messages obviously take more room than a thousand in total): the check is
that the store has no superlinear growth. Gated (exit status 1 when a ratio N/1,000 exceeds
1.5, or a purge leaves messages behind): send p50, verify p50, traced bytes per message. p99
ratios are printed, not gated: a single full garbage collection over millions of objects
lands in the tail. Bounded (every child has a timeout); no network at all.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TENANT = "bench"
AUTH = {"Authorization": "Basic " + base64.b64encode(f"{TENANT}:s3cret".encode()).decode()}
TTL = 300.0  # sms-default's verify_code_ttl (5 minutes), used for the bulk messages too
RETENTION = 3600.0
GATED_LIMIT = 1.5
CHILD_TIMEOUT = 1800


# the children -----------------------------------------------------------------------------
class RealClock:
    """Wall-clock time that the benchmark can move forward, to make messages due for purge."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def bulk_load(*args: Any, **kwargs: Any) -> list[str]:
    """tests/bulk.py's helper (the tests folder is not a package)."""
    if str(ROOT / "tests") not in sys.path:
        sys.path.insert(0, str(ROOT / "tests"))
    from bulk import bulk_load as load

    return load(*args, **kwargs)


def build(count: int, extra: int) -> tuple[Any, Any, RealClock]:
    from mockserver.app import create_app
    from mockserver.store import MemoryStore

    real = RealClock()
    limit = count + extra + 1_000
    store = MemoryStore(retention_seconds=RETENTION, max_messages=limit, real_time=real)
    app = create_app({"store": "memory", "max_messages": limit, "retention_seconds": RETENTION,
                      "log_requests": False}, store=store)
    return app, store, real


def send(client: Any, to: str) -> tuple[float, str]:
    started = time.perf_counter()
    response = client.post("/v1/messages", json={"to": to, "template": {"id": "sms-default"}}, headers=AUTH)
    elapsed = time.perf_counter() - started
    if response.status_code != 200:
        raise RuntimeError(f"send to {to}: {response.status_code} {response.get_data(as_text=True)}")
    return elapsed, str(response.get_json()["message_id"])


def verify(client: Any, message_id: str, code: str) -> float:
    started = time.perf_counter()
    response = client.post("/v1/verifications", json={"message_id": message_id, "verify_code": code}, headers=AUTH)
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.get_json().get("verified") is not True:
        raise RuntimeError(f"verify {message_id}: {response.status_code} {response.get_data(as_text=True)}")
    return elapsed


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def child_latency(count: int, rounds: int, per_round: int) -> dict[str, Any]:
    app, store, real = build(count, rounds * per_round + 200)
    client = app.test_client()
    gc.collect()
    rss0 = rss_bytes()
    started = time.perf_counter()
    sampled = bulk_load(store, count, tenant=TENANT, ttl_seconds=TTL, sample=20)
    load_s = time.perf_counter() - started
    rss_load = rss_bytes() - rss0

    for i in range(100):  # warm-up: seeds the tenant, fills caches, compiles validators
        _, message_id = send(client, f"+447700900{900 + i}")
        verify(client, message_id, store.get_message(TENANT, message_id).code)
    for message_id in sampled:  # the bulk messages are real: they verify through the API
        verify(client, message_id, store.get_message(TENANT, message_id).code)

    stats: dict[str, list[float]] = {"send_p50": [], "send_p99": [], "verify_p50": [], "verify_p99": []}
    worst = {"send": 0.0, "verify": 0.0}
    gen2_before = gc.get_stats()[2]["collections"]
    for _ in range(rounds):
        sends, sent = [], []
        for i in range(per_round):
            elapsed, message_id = send(client, f"+447700900{i:03d}")
            sends.append(elapsed)
            sent.append(message_id)
        codes = [store.get_message(TENANT, m).code for m in sent]
        verifies = [verify(client, m, c) for m, c in zip(sent, codes, strict=True)]
        for name, values in (("send", sends), ("verify", verifies)):
            stats[f"{name}_p50"].append(percentile(values, 50) * 1000)
            stats[f"{name}_p99"].append(percentile(values, 99) * 1000)
            worst[name] = max(worst[name], max(values) * 1000)
    gen2 = gc.get_stats()[2]["collections"] - gen2_before

    # control-plane look-ups, for information: the newest message, and a recipient nobody has
    started = time.perf_counter()
    found = client.get("/_mock/messages/latest?to=%2B447700900000&dev_key=" + TENANT).status_code
    latest_ms = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    missing = client.get("/_mock/messages/latest?to=%2B447700999999&dev_key=" + TENANT).status_code
    missing_ms = (time.perf_counter() - started) * 1000
    if (found, missing) != (200, 404):
        raise RuntimeError(f"latest look-ups answered {found} and {missing}")

    # the purge: past ttl + retention in real time, one more send purges a bounded share, purge() the rest
    before = store.count_messages()
    gc.collect()
    rss_before, blocks_before = rss_bytes(), sys.getallocatedblocks()
    real.shift += TTL + RETENTION + 1
    purge_ms, _ = send(client, "+447700900999")
    after_send = store.count_messages()
    purged_again = store.purge(real())
    after = store.count_messages()
    gc.collect()
    return {
        "load_s": load_s, "rss_per_msg": rss_load / count, "gen2_collections": gen2,
        "send_max": worst["send"], "verify_max": worst["verify"],
        **{name: statistics.median(values) for name, values in stats.items()},
        "latest_ms": latest_ms, "latest_missing_ms": missing_ms,
        "purge": {"before": before, "after_send": after_send, "after": after, "again": purged_again,
                  "send_ms": purge_ms * 1000,
                  "rss_before": rss_before, "rss_after": rss_bytes(),
                  "blocks_before": blocks_before, "blocks_after": sys.getallocatedblocks()},
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def child_memory(count: int) -> dict[str, Any]:
    import tracemalloc

    from mockserver.store import MemoryStore

    app, store, real = build(count, 100)
    client = app.test_client()
    send(client, "+447700900999")  # the tenant exists and is seeded before tracing starts
    bulk_load(MemoryStore(), 10, tenant="warm-up")  # the helper's own first-call costs, untraced
    gc.collect()
    tracemalloc.start()
    bulk_load(store, count, tenant=TENANT, ttl_seconds=TTL, sample=1)
    gc.collect()
    loaded = tracemalloc.get_traced_memory()[0]
    real.shift += TTL + RETENTION + 1
    purged = store.purge(real())
    gc.collect()
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return {"bytes_per_msg": loaded / count, "loaded_bytes": loaded, "held_after_purge": held,
            "purged": purged, "left": store.count_messages(),
            "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


# the parent -------------------------------------------------------------------------------
def run_child(mode: str, count: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", mode, "--count", str(count),
               "--rounds", str(args.rounds), "--per-round", str(args.per_round)]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=CHILD_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{mode} child for N={count} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - started
    print(f"  {mode:<7} N={count:>9,}: {result['wall_s']:.1f} s, peak RSS {result['peak_rss'] / 2**20:.0f} MiB",
          file=sys.stderr, flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=1_000_000, help="messages of the big run (>= 1000)")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of timed calls (median of their percentiles)")
    parser.add_argument("--per-round", type=int, default=400, help="sends, then verifies, per round (max 900)")
    parser.add_argument("--child", choices=["latency", "memory"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.count = max(args.count, 1_000)
    args.rounds = min(max(args.rounds, 1), 50)
    args.per_round = min(max(args.per_round, 100), 900)
    if args.child == "latency":
        print(json.dumps(child_latency(args.count, args.rounds, args.per_round)))
        return 0
    if args.child == "memory":
        print(json.dumps(child_memory(args.count)))
        return 0

    started = time.monotonic()
    sizes = [1_000, args.count]
    rows: dict[int, dict[str, Any]] = {}
    for n in sizes:
        memory, latency = run_child("memory", n, args), run_child("latency", n, args)
        rows[n] = {**memory, **latency, "peak_rss": max(memory["peak_rss"], latency["peak_rss"])}
    small, big = rows[1_000], rows[args.count]
    figures = [("send p50 ms", "send_p50", True), ("send p99 ms", "send_p99", False),
               ("verify p50 ms", "verify_p50", True), ("verify p99 ms", "verify_p99", False),
               ("bytes/msg (traced)", "bytes_per_msg", True), ("bytes/msg (RSS)", "rss_per_msg", False)]
    print(f"\n{'N':>10} " + " ".join(f"{label:>19}" for label, _, _ in figures) + f" {'load s':>8} {'load us/msg':>11}")
    for n in sizes:
        r = rows[n]
        print(f"{n:>10,} " + " ".join(f"{r[key]:>19.3f}" if "ms" in label else f"{r[key]:>19.0f}"
                                      for label, key, _ in figures)
              + f" {r['load_s']:>8.2f} {r['load_s'] / n * 1e6:>11.1f}")
    ratios = {key: big[key] / small[key] if small[key] else float("inf") for _, key, _ in figures}
    load_ratio = (big["load_s"] / args.count) / (small["load_s"] / 1_000)
    print(f"{'ratio':>10} " + " ".join(f"{ratios[key]:>18.2f}" + ("*" if gated else " ")
                                       for _, key, gated in figures) + f" {'':>8} {load_ratio:>11.2f}")
    print(f"(* gated: must be <= {GATED_LIMIT}; memory children: tracemalloc; latency children: median of "
          f"{args.rounds} rounds x {args.per_round} calls, gen2 GCs during them: "
          f"{small['gen2_collections']} / {big['gen2_collections']})")

    print(f"\n{'purge, N':>10} {'count before':>13} {'after 1 send':>13} {'send ms':>8} {'after purge()':>14} "
          f"{'RSS MiB before->after':>22} "
          f"{'traced MiB loaded->held':>24} {'peak RSS MiB':>13}")
    purge_ok = True
    for n in sizes:
        r, p = rows[n], rows[n]["purge"]
        ok = p["before"] >= n and p["after"] <= 1 and r["left"] == 0 and r["purged"] >= n
        purge_ok = purge_ok and ok
        print(f"{n:>10,} {p['before']:>13,} {p['after_send']:>13,} {p['send_ms']:>8.1f} {p['after']:>14,} "
              f"{p['rss_before'] / 2**20:>10.1f} -> {p['rss_after'] / 2**20:>8.1f} "
              f"{r['loaded_bytes'] / 2**20:>11.1f} -> {r['held_after_purge'] / 2**20:>8.1f} "
              f"{r['peak_rss'] / 2**20:>13.0f}" + ("" if ok else "   NOT PURGED"))
    print(f"\nslowest timed call, send / verify ms: N=1,000 {small['send_max']:.1f} / {small['verify_max']:.1f}; "
          f"N={args.count:,} {big['send_max']:.1f} / {big['verify_max']:.1f}")
    print(f"control plane, N={args.count:,}: GET /_mock/messages/latest newest {big['latest_ms']:.2f} ms, "
          f"absent recipient {big['latest_missing_ms']:.1f} ms (N=1,000: {small['latest_missing_ms']:.2f} ms)")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; total {time.monotonic() - started:.0f} s")

    failed = [key for _, key, gated in figures if gated and ratios[key] > GATED_LIMIT]
    if failed or not purge_ok:
        print(f"FAIL: ratio above {GATED_LIMIT}: {', '.join(failed) or 'none'}; purge ok: {purge_ok}", file=sys.stderr)
        return 1
    print("OK: latency p50 and bytes per message within 1.5x of N=1,000; expired messages purged")
    return 0


if __name__ == "__main__":
    sys.exit(main())
