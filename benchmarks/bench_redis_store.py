"""Benchmark RedisStore on the fraud module (17 nodes, windows 5m/1h/10d): reads from tiles, ingest, memory.

Starts its own redis-server (AOF on, ``appendfsync always``) on a free port in a temp dir and measures, each
beside a baseline in the same run, contenders interleaved round by round (medians of the rounds):

- ``RowDriver.get`` p99 on dense keys (1k and 50k events per key over 10 days): tiles (``RedisWindowState.query``)
  against the pre-tiles path (``query_raw``: fetch the longest window's events, aggregate in Python);
- ingest, batches of 1,000, on sparse (10k users) and dense (50 users) keys: with tiles, the pre-tiles script
  (tiles off), and a raw redis-py pipeline doing the minimal work (one ZADD per event, no dedup, no eviction);
- the sparse serving mix of the first round (10k users, ~30 events each) against MemoryStore, bootstrap time and
  Redis memory per held event.

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


def dense_events(keys: int, per_key: int, seed: int) -> list[dict[str, Any]]:
    """``per_key`` transactions for each of ``keys`` users over 10 days, in time order."""
    rng = random.Random(seed)
    count = keys * per_key
    step = SPAN / count
    return [{"txn_id": f"d{seed}-{i}", "user_id": f"k{i % keys}", "ts": START + i * step,
             "amount": round(rng.lognormvariate(3, 1), 2), "merchant": f"m{rng.randrange(200)}"}
            for i in range(count)]


def dense_gets(url: str, dag: fdag.Dag, keys: int, per_key: int, rounds: int, calls: int) -> tuple[float, float]:
    """Median over ``rounds`` of the p99 ``RowDriver.get`` latency (s) with tiles and with the pre-tiles path."""
    row = fdag.RowDriver(dag, store=RedisStore(url, namespace=f"dense-{per_key}"))
    row.bootstrap("transactions", pl.DataFrame(dense_events(keys, per_key, seed=per_key)))
    state = row._states["transactions"][0]
    tiled, raw = state.query, state.query_raw
    rng = random.Random(3)
    requests = [{"user_id": f"k{rng.randrange(keys)}", "amount": 50.0, "merchant": "m1"} for _ in range(calls)]
    as_of = START + SPAN + timedelta(seconds=1)
    latencies(row, requests[:50], as_of)  # warm up
    p99s: dict[str, list[float]] = {"tiles": [], "raw": []}
    for _ in range(rounds):
        for name, query in (("tiles", tiled), ("raw", raw)):
            state.query = query  # the driver looks the method up per call
            p99s[name].append(percentile(latencies(row, requests, as_of), 0.99))
    state.query = tiled
    return statistics.median(p99s["tiles"]), statistics.median(p99s["raw"])


def ingest_rate(url: str, dag: fdag.Dag, events: list[dict[str, Any]], name: str, tiles: bool) -> float:
    """Events per second ingesting ``events`` in batches of 1,000 into a fresh namespace (``tiles``: on or off)."""
    row = fdag.RowDriver(dag, store=RedisStore(url, namespace=name))
    if not tiles:
        row._states["transactions"][0]._tiles = ""  # the pre-tiles script: events, ids, bounds, eviction
    began = time.perf_counter()
    for first in range(0, len(events), 1_000):
        row.ingest("transactions", events[first : first + 1_000])
    return len(events) / (time.perf_counter() - began)


def pipeline_rate(url: str, events: list[dict[str, Any]], name: str) -> float:
    """Events per second of the minimal equivalent work in redis-py: per batch one pipeline of ZADDs of the
    JSON-encoded events into per-key sorted sets (no validation, dedup, watermark, eviction or tiles)."""
    import json

    import redis

    client = redis.Redis.from_url(url)
    began = time.perf_counter()
    for first in range(0, len(events), 1_000):
        pipe = client.pipeline(transaction=False)
        for event in events[first : first + 1_000]:
            ts = int(event["ts"].timestamp() * 1e6)
            member = json.dumps([ts, event["txn_id"], event["amount"], event["merchant"]])
            pipe.zadd(f"{name}:e:{event['user_id']}", {member: ts})
        pipe.execute()
    return len(events) / (time.perf_counter() - began)


def ingest_rates(url: str, dag: fdag.Dag, users: int, count: int, rounds: int) -> dict[str, float]:
    """Median events/s over ``rounds`` interleaved runs of each ingest contender on ``users`` keys."""
    rates: dict[str, list[float]] = {"tiles": [], "pre-tiles": [], "pipeline": []}
    for run in range(rounds):
        events = make_events(users, count, seed=100 + run)
        tag = f"{users}-{run}"
        rates["tiles"].append(ingest_rate(url, dag, events, f"ingest-t-{tag}", tiles=True))
        rates["pre-tiles"].append(ingest_rate(url, dag, events, f"ingest-r-{tag}", tiles=False))
        rates["pipeline"].append(pipeline_rate(url, events, f"ingest-p-{tag}"))
    return {name: statistics.median(values) for name, values in rates.items()}


def main(quick: bool) -> None:
    """Run every measurement and print a Markdown table."""
    users, count, calls = (2_000, 60_000, 5_000) if quick else (10_000, 300_000, 20_000)
    calls_dense = 200 if quick else 400
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
            redis_times, raw_times, memory_times = [], [], []
            tiled, raw = state.query, state.query_raw
            for part in range(0, calls, calls // 4):  # interleaved: tiles, pre-tiles path, MemoryStore
                chunk = requests[part : part + calls // 4]
                redis_times += latencies(redis_row, chunk, as_of)
                state.query = raw
                raw_times += latencies(redis_row, chunk, as_of)
                state.query = tiled
                memory_times += latencies(memory_row, chunk, as_of)
            dense = {per_key: dense_gets(server.url, dag, keys, per_key, rounds=5, calls=calls_dense)
                     for keys, per_key in ((40, 1_000), (4 if not quick else 2, 50_000))}
            ingest = {users_: ingest_rates(server.url, dag, users_, 20_000, rounds=3) for users_ in (10_000, 50)}
            version = store.client.info("server")["redis_version"]
        finally:
            server.stop()
    us = 1e6
    print(f"## RedisStore vs MemoryStore: fraud module, {users:,} users, {count:,} events over 10 days "
          f"(~{count / users:.0f} per user), Redis {version} on loopback, AOF appendfsync always\n")
    print("| measure | MemoryStore | RedisStore (tiles) | RedisStore, pre-tiles path |")
    print("|---|---|---|---|")
    print(f"| RowDriver.get p50 ({calls:,} calls) | {percentile(memory_times, 0.5) * us:.0f} µs "
          f"| {percentile(redis_times, 0.5) * us:.0f} µs | {percentile(raw_times, 0.5) * us:.0f} µs |")
    print(f"| RowDriver.get p99 | {percentile(memory_times, 0.99) * us:.0f} µs "
          f"| {percentile(redis_times, 0.99) * us:.0f} µs | {percentile(raw_times, 0.99) * us:.0f} µs |")
    print(f"| bootstrap {count:,} events | | {bootstrap_s:.1f} s ({count / bootstrap_s:,.0f} events/s) |")
    print(f"| Redis memory per held event (INFO used_memory delta) | | {used / count:.0f} B |")
    print(f"| of which the event sorted sets (MEMORY USAGE, 200 keys) | | {statistics.mean(per_key):.0f} B |")
    print("\n## RedisStore.get p99 on dense keys, 10 days of events (median of 5 interleaved rounds)\n")
    print("| events per key | tiles | pre-tiles path (fetch the window) | ratio |")
    print("|---|---|---|---|")
    for per_key, (tiles_p99, raw_p99) in dense.items():
        print(f"| {per_key:,} | {tiles_p99 * us:.0f} µs | {raw_p99 * us:.0f} µs | {tiles_p99 / raw_p99:.2f}x |")
    print("\n## RedisStore ingest, batches of 1,000 (median of 3 interleaved rounds of 20,000 events)\n")
    print("| keys | with tiles | pre-tiles script | redis-py pipeline, ZADD only | tiles / pipeline |")
    print("|---|---|---|---|---|")
    for users_, rates in ingest.items():
        print(f"| {users_:,} | {rates['tiles']:,.0f}/s | {rates['pre-tiles']:,.0f}/s | {rates['pipeline']:,.0f}/s "
              f"| {rates['tiles'] / rates['pipeline']:.2f}x |")
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")
    print(f"\nReproduce: PYTHONPATH=. .venv/bin/python benchmarks/bench_redis_store.py{' --quick' if quick else ''}")


if __name__ == "__main__":
    main("--quick" in sys.argv)
