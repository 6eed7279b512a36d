"""Benchmark RedisStore against MemoryStore on the fraud module (17 nodes, windows 5m/1h/10d).

Starts its own redis-server (AOF on, ``appendfsync always``) on a free port in a temp dir, bootstraps the same
history into both stores, then measures RowDriver.get latency (p50/p99 over the same requests), ingest
throughput (batches of 1,000 events, median of 3 runs), bootstrap time and Redis memory per held event.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_redis_store.py [--quick]
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

import fdag
from fdag._stores.redis import RedisStore
from fdag.demo import fraud
from tests.redis_server import RedisServer

START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=10)


def make_events(users: int, count: int, seed: int, start: datetime = START) -> list[dict[str, Any]]:
    """``count`` transactions of ``users`` users spread over 10 days in time order."""
    rng = random.Random(seed)
    step = SPAN / count
    return [{"txn_id": f"{seed}-{i}", "user_id": f"u{rng.randrange(users)}", "ts": start + i * step,
             "amount": round(rng.lognormvariate(3, 1), 2), "merchant": f"m{rng.randrange(200)}"}
            for i in range(count)]


def latencies(row: fdag.RowDriver, requests: list[dict[str, Any]], as_of: datetime) -> list[float]:
    """Seconds per RowDriver.get for each request."""
    gc.collect()
    out = []
    clock = time.perf_counter
    for request in requests:
        began = clock()
        row.get(request, as_of)
        out.append(clock() - began)
    return out


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def ingest_rate(url: str, dag: fdag.Dag, events: list[dict[str, Any]], run: int) -> float:
    """Events per second ingesting ``events`` in batches of 1,000 into a fresh namespace."""
    row = fdag.RowDriver(dag, store=RedisStore(url, namespace=f"ingest-{run}"))
    began = time.perf_counter()
    for first in range(0, len(events), 1_000):
        row.ingest("transactions", events[first : first + 1_000])
    return len(events) / (time.perf_counter() - began)


def main(quick: bool) -> None:
    """Run every measurement and print a Markdown table."""
    users, count, calls = (2_000, 60_000, 5_000) if quick else (10_000, 300_000, 20_000)
    dag = fdag.Dag.from_modules(fraud)
    history = pl.DataFrame(make_events(users, count, seed=1))
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory)).start()
        try:
            store = RedisStore(server.url, namespace="bench")
            used_before = int(store.client.info("memory")["used_memory"])
            redis_row = fdag.RowDriver(dag, store=store)
            memory_row = fdag.RowDriver(dag, store=fdag.MemoryStore())
            began = time.perf_counter()
            redis_row.bootstrap("transactions", history)
            bootstrap_s = time.perf_counter() - began
            memory_row.bootstrap("transactions", history)
            used = int(store.client.info("memory")["used_memory"]) - used_before
            state = redis_row._states["transactions"][0]
            sample = [f"{state.prefix}e:u{u}" for u in range(0, users, max(1, users // 200))]
            per_key = [store.client.memory_usage(name, samples=0) / store.client.zcard(name) for name in sample]

            while any(int(store.client.info("persistence")[flag]) for flag in
                      ("aof_rewrite_in_progress", "aof_rewrite_scheduled")):
                time.sleep(0.1)  # measure steady state, not the fork of the AOF rewrite the bootstrap triggered
            rng = random.Random(2)
            requests = [{"user_id": f"u{rng.randrange(users)}", "amount": 50.0, "merchant": "m1"} for _ in range(calls)]
            as_of = START + SPAN + timedelta(seconds=1)
            latencies(redis_row, requests[:1_000], as_of)  # warm up connections and caches
            redis_times = latencies(redis_row, requests, as_of)
            memory_times = latencies(memory_row, requests, as_of)
            rates = [ingest_rate(server.url, dag, make_events(users, 50_000 if not quick else 20_000, seed=10 + run),
                                 run) for run in range(3)]
            version = store.client.info("server")["redis_version"]
        finally:
            server.stop()
    us = 1e6
    print(f"## RedisStore vs MemoryStore: fraud module, {users:,} users, {count:,} events over 10 days "
          f"(~{count / users:.0f} per user), Redis {version} on loopback, AOF appendfsync always\n")
    print("| measure | MemoryStore | RedisStore |")
    print("|---|---|---|")
    print(f"| RowDriver.get p50 ({calls:,} calls) | {percentile(memory_times, 0.5) * us:.0f} µs "
          f"| {percentile(redis_times, 0.5) * us:.0f} µs |")
    print(f"| RowDriver.get p99 | {percentile(memory_times, 0.99) * us:.0f} µs "
          f"| {percentile(redis_times, 0.99) * us:.0f} µs |")
    print(f"| ingest, batches of 1,000 (median of 3) | | {statistics.median(rates):,.0f} events/s |")
    print(f"| bootstrap {count:,} events | | {bootstrap_s:.1f} s ({count / bootstrap_s:,.0f} events/s) |")
    print(f"| Redis memory per held event (INFO used_memory delta) | | {used / count:.0f} B |")
    print(f"| of which the event sorted sets (MEMORY USAGE, 200 keys) | | {statistics.mean(per_key):.0f} B |")
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")
    print(f"\nReproduce: PYTHONPATH=. .venv/bin/python benchmarks/bench_redis_store.py{' --quick' if quick else ''}")


if __name__ == "__main__":
    main("--quick" in sys.argv)
