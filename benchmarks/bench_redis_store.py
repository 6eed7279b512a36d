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

    PYTHONPATH=. .venv/bin/python benchmarks/bench_redis_store.py [--quick] [--gets | --ingest]

``--gets``: only the dense-key get table, tiles only (under a minute; for work on the read path). ``--ingest``: only
the ingest table, with tiles and without, and per event the Redis CPU time of the script (``INFO commandstats``) and
the client's thread CPU time (a minute or two; for work on the ingest path).
"""

from __future__ import annotations

import gc
import math
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
import redis

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
    return timed_gets(row, requests, as_of)[0]


def timed_gets(row: fdag.RowDriver, requests: list[dict[str, Any]], as_of: datetime) -> tuple[list[float], float]:
    """Seconds per RowDriver.get for each request, and the thread CPU time of all of them (s)."""
    gc.collect()
    out = []
    clock = time.perf_counter
    cpu = time.thread_time()
    for request in requests:
        began = clock()
        row.get(request, as_of)
        out.append(clock() - began)
    return out, time.thread_time() - cpu


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


def evalsha_usec(client: Any, commands: tuple[str, ...] = ("evalsha",)) -> tuple[int, float]:
    """Redis' running totals of calls of ``commands`` (EVALSHA) and their CPU time (µs, ``INFO commandstats``)."""
    stats = client.info("commandstats")
    totals = [stats.get(f"cmdstat_{name}", {"calls": 0, "usec": 0}) for name in commands]
    return sum(int(t["calls"]) for t in totals), sum(float(t["usec"]) for t in totals)


def dense_gets(url: str, dag: fdag.Dag, keys: int, per_key: int, rounds: int, calls: int,
               baseline: bool = True) -> dict[str, float]:
    """Medians over ``rounds`` of the ``RowDriver.get`` p50 and p99 latency (s) with tiles and (``baseline``) with
    the pre-tiles path, and with tiles the client's thread CPU time per get and Redis' CPU time per query (s)."""
    row = fdag.RowDriver(dag, store=RedisStore(url, namespace=f"dense-{per_key}"))
    row.bootstrap("transactions", pl.DataFrame(dense_events(keys, per_key, seed=per_key)))
    state = row._states["transactions"][0]
    tiled, raw = state.query, state.query_raw
    rng = random.Random(3)
    requests = [{"user_id": f"k{rng.randrange(keys)}", "amount": 50.0, "merchant": "m1"} for _ in range(calls)]
    as_of = START + SPAN + timedelta(seconds=1)
    latencies(row, requests[:50], as_of)  # warm up
    figures: dict[str, list[float]] = {"tiles p50": [], "tiles p99": [], "raw p50": [], "raw p99": [],
                                       "client cpu": [], "redis cpu": []}
    client = redis.Redis.from_url(url)
    for _ in range(rounds):
        for name, query in (("tiles", tiled), ("raw", raw))[: 2 if baseline else 1]:
            state.query = query  # the driver looks the method up per call
            calls_before, usec_before = evalsha_usec(client)
            times, cpu = timed_gets(row, requests, as_of)
            calls_after, usec_after = evalsha_usec(client)
            figures[f"{name} p50"].append(percentile(times, 0.5))
            figures[f"{name} p99"].append(percentile(times, 0.99))
            if name == "tiles":
                figures["client cpu"].append(cpu / len(requests))
                figures["redis cpu"].append((usec_after - usec_before) / (calls_after - calls_before) / 1e6)
    state.query = tiled
    return {name: statistics.median(values) if values else math.nan for name, values in figures.items()}


def ingest_rate(url: str, dag: fdag.Dag, events: list[dict[str, Any]], name: str, tiles: bool) -> float:
    """Events per second ingesting ``events`` in batches of 1,000 into a fresh namespace (``tiles``: on or off)."""
    return ingest_costs(url, dag, events, name, tiles)[0]


def ingest_costs(url: str, dag: fdag.Dag, events: list[dict[str, Any]], name: str,
                 tiles: bool) -> tuple[float, float, float]:
    """``ingest_rate``'s events/s, and per event the Redis CPU time of the script calls and the client's thread
    CPU time (s)."""
    row = fdag.RowDriver(dag, store=RedisStore(url, namespace=name))
    if not tiles:
        row._states["transactions"][0]._tiles = ""  # the pre-tiles script: events, ids, bounds, eviction
    client = redis.Redis.from_url(url)
    _, usec_before = evalsha_usec(client, ("eval", "evalsha"))  # a large batch's first call is an EVAL
    cpu = time.thread_time()
    began = time.perf_counter()
    for first in range(0, len(events), 1_000):
        row.ingest("transactions", events[first : first + 1_000])
    wall, cpu = time.perf_counter() - began, time.thread_time() - cpu
    _, usec_after = evalsha_usec(client, ("eval", "evalsha"))
    return len(events) / wall, (usec_after - usec_before) / 1e6 / len(events), cpu / len(events)


def pipeline_rate(url: str, events: list[dict[str, Any]], name: str) -> float:
    """Events per second of the minimal equivalent work in redis-py: per batch one pipeline of ZADDs of the
    JSON-encoded events into per-key sorted sets (no validation, dedup, watermark, eviction or tiles)."""
    import json

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


DENSE = ((40, 1_000), (4, 50_000))  # (keys, events per key) of the dense-key gets


def dense_tables(url: str, dag: fdag.Dag, quick: bool, rounds: int, baseline: bool) -> dict[int, dict[str, float]]:
    """``dense_gets`` per row of ``DENSE`` (``quick``: 2 keys of 50,000 events, 200 calls a round)."""
    return {per_key: dense_gets(url, dag, keys if not quick or per_key < 50_000 else 2, per_key, rounds,
                                calls=200 if quick else 400, baseline=baseline) for keys, per_key in DENSE}


def print_dense(dense: dict[int, dict[str, float]], rounds: int) -> None:
    """The dense-key get table."""
    us = 1e6
    print(f"\n## RedisStore.get on dense keys, 10 days of events (median of {rounds} interleaved rounds)\n")
    print("| events per key | tiles p50 | tiles p99 | pre-tiles path p99 (fetch the window) | ratio (p99) "
          "| client CPU per get | Redis CPU per query |")
    print("|---|---|---|---|---|---|---|")
    for per_key, f in dense.items():
        raw = "— | —" if math.isnan(f["raw p99"]) else \
            f"{f['raw p99'] * us:.0f} µs | {f['tiles p99'] / f['raw p99']:.2f}x"
        print(f"| {per_key:,} | {f['tiles p50'] * us:.0f} µs | {f['tiles p99'] * us:.0f} µs | {raw} "
              f"| {f['client cpu'] * us:.0f} µs | {f['redis cpu'] * us:.0f} µs |")
    if len(dense) == 2:
        low, high = dense.values()
        growth = ", ".join(f"{name} {high[key] / low[key]:.2f}x" for name, key in (
            ("p50", "tiles p50"), ("p99", "tiles p99"), ("client CPU", "client cpu"), ("Redis CPU", "redis cpu")))
        print(f"\nGrowth from {min(dense):,} to {max(dense):,} events per key: {growth}.")


def gets_only(quick: bool) -> None:
    """Only the dense-key get table (``--gets``), with tiles only (the pre-tiles path takes minutes at 50,000
    events per key): quick to iterate on the read path."""
    dag = fdag.Dag.from_modules(fraud)
    rounds = 5
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory)).start()
        try:
            dense = dense_tables(server.url, dag, quick, rounds, baseline=False)
        finally:
            server.stop()
    print_dense(dense, rounds)


def ingest_only(rounds: int = 5) -> None:
    """Only the ingest table (``--ingest``), tiles on and off interleaved, with the CPU time per event of Redis
    (the script's EVAL and EVALSHA calls, ``INFO commandstats``) and
    the client."""
    dag = fdag.Dag.from_modules(fraud)
    figures: dict[tuple[int, bool], list[tuple[float, float, float]]] = {}
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory)).start()
        try:
            for run in range(rounds):
                for users in (10_000, 50):
                    events = make_events(users, 20_000, seed=100 + run)
                    for tiles in (True, False):
                        name = f"ingest-{'t' if tiles else 'r'}-{users}-{run}"
                        figures.setdefault((users, tiles), []).append(ingest_costs(server.url, dag, events, name,
                                                                                   tiles))
        finally:
            server.stop()
    us = 1e6
    print(f"## RedisStore ingest, batches of 1,000 (median of {rounds} interleaved rounds of 20,000 events)\n")
    print("| keys | tiles | events/s | Redis CPU per event | client CPU per event |")
    print("|---|---|---|---|---|")
    for (users, tiles), runs in figures.items():
        rate, server_cpu, client_cpu = (statistics.median(values) for values in zip(*runs, strict=True))
        print(f"| {users:,} | {'on' if tiles else 'off'} | {rate:,.0f}/s | {server_cpu * us:.2f} µs "
              f"| {client_cpu * us:.2f} µs |")
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")


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
            redis_times, raw_times, memory_times = [], [], []
            tiled, raw = state.query, state.query_raw
            for part in range(0, calls, calls // 4):  # interleaved: tiles, pre-tiles path, MemoryStore
                chunk = requests[part : part + calls // 4]
                redis_times += latencies(redis_row, chunk, as_of)
                state.query = raw
                raw_times += latencies(redis_row, chunk, as_of)
                state.query = tiled
                memory_times += latencies(memory_row, chunk, as_of)
            dense = dense_tables(server.url, dag, quick, rounds=5, baseline=True)
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
    print_dense(dense, 5)
    print("\n## RedisStore ingest, batches of 1,000 (median of 3 interleaved rounds of 20,000 events)\n")
    print("| keys | with tiles | pre-tiles script | redis-py pipeline, ZADD only | tiles / pipeline |")
    print("|---|---|---|---|---|")
    for users_, rates in ingest.items():
        print(f"| {users_:,} | {rates['tiles']:,.0f}/s | {rates['pre-tiles']:,.0f}/s | {rates['pipeline']:,.0f}/s "
              f"| {rates['tiles'] / rates['pipeline']:.2f}x |")
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")
    print(f"\nReproduce: PYTHONPATH=. .venv/bin/python benchmarks/bench_redis_store.py{' --quick' if quick else ''}")


if __name__ == "__main__":
    if "--gets" in sys.argv:
        gets_only("--quick" in sys.argv)
    elif "--ingest" in sys.argv:
        ingest_only()
    else:
        main("--quick" in sys.argv)
