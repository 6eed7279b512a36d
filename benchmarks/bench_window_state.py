"""Benchmark the online window state: query latency, ingest throughput and bootstrap time.

10 window specs (sum/count/mean/min/max over 5m/1h/10d) over ~1,000 events per key for 1,000 keys. Query
latency is compared with hand-written plain Python over the same held data (the reference floor), ingest is
batch ingest of dicts in roughly time order, bootstrap loads a 1M-event frame with precomputed values.

``--mix`` measures the realistic 10-feature mix of ``online_mix`` through ``RowDriver`` instead, at 1k and 100k
events per key: ``get`` at the newest instant and at an ``as_of`` moved back within the allowed lateness, ingest
then get per request (streaming scoring) and batch ingest, interleaved in rounds with a hand-written
plain-Python computation of the same 10 values over the same held events.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_window_state.py [--quick] [--mix]
"""

from __future__ import annotations

import gc
import random
import statistics
import sys
import time
from bisect import bisect_left
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._stores.memory import MemoryStore, MemoryWindowState
from fdag._values.durations import parse_duration
from fdag._values.types import FType

KEYS = 1_000
EVENTS_PER_KEY = 1_000
SPAN = timedelta(days=10)
START = datetime(2024, 1, 1, tzinfo=UTC)
SPECS = [("sum", "5m"), ("sum", "1h"), ("sum", "10d"), ("count", "1h"), ("count", "10d"), ("mean", "1h"),
         ("mean", "10d"), ("min", "1h"), ("max", "10d"), ("max", "5m")]
US = timedelta(microseconds=1)


def amount(amount: float) -> float:
    """The per-event value every spec aggregates."""
    return amount


def make_state() -> MemoryWindowState:
    """A fresh state with the 10 benchmark specs over ``amount``."""
    source = Source("transactions", key="user_id", timestamp="ts", id="txn_id",
                    schema={"txn_id": int, "user_id": str, "ts": datetime, "amount": float})
    specs = []
    for agg_text, over in SPECS:
        agg = parse_aggregation(agg_text)
        specs.append(WindowSpec(f"amount_{agg_text}_{over}", source, amount, ("amount",), FType(float), agg,
                                parse_duration(over), over, "left", None, agg.result_type(FType(float))))
    return MemoryStore().window_state(source, specs, {"__value__amount": lambda e: e["amount"]})


def make_events(keys: int, per_key: int, seed: int = 1) -> list[dict[str, Any]]:
    """Events of ``keys`` keys over 10 days, in time order except for a little jitter (about 1% late)."""
    rng = random.Random(seed)
    total = keys * per_key
    step = SPAN / total
    events = []
    for i in range(total):
        jitter = timedelta(seconds=rng.uniform(-120, 0)) if rng.random() < 0.01 else timedelta(0)
        events.append({"txn_id": i, "user_id": f"u{rng.randrange(keys)}", "ts": START + i * step + jitter,
                       "amount": round(rng.lognormvariate(3, 1), 2)})
    return events


def baseline(held: dict[str, tuple[list[int], list[float], list[float]]]) -> Callable[[str, int], list[Any]]:
    """Plain Python over per-key (timestamps, values, prefix sums): the same 10 values, no locks, no generality."""
    five, hour, ten = (parse_duration(o) // US for o in ("5m", "1h", "10d"))

    def query(key: str, t: int) -> list[Any]:
        ts, values, prefix = held[key]
        end = bisect_left(ts, t)
        a5, a1, a10 = bisect_left(ts, t - five), bisect_left(ts, t - hour), bisect_left(ts, t - ten)
        n1, n10 = end - a1, end - a10
        s1 = prefix[end] - prefix[a1]
        s10 = prefix[end] - prefix[a10]
        return [prefix[end] - prefix[a5], s1, s10, n1, n10, s1 / n1 if n1 else None, s10 / n10 if n10 else None,
                min(values[a1:end]) if n1 else None, max(values[a10:end]) if n10 else None,
                max(values[a5:end]) if end > a5 else None]

    return query


def baseline_prefix_only(held: dict[str, tuple[list[int], list[float], list[float]]]) -> Callable[[str, int], Any]:
    """The reference floor: 7 prefix-sum features (sums, counts, means over 5m/1h/10d) in plain Python."""
    five, hour, ten = (parse_duration(o) // US for o in ("5m", "1h", "10d"))

    def query(key: str, t: int) -> list[Any]:
        ts, _, prefix = held[key]
        end = bisect_left(ts, t)
        a5, a1, a10 = bisect_left(ts, t - five), bisect_left(ts, t - hour), bisect_left(ts, t - ten)
        n1, n10 = end - a1, end - a10
        s1, s10 = prefix[end] - prefix[a1], prefix[end] - prefix[a10]
        return [prefix[end] - prefix[a5], s1, s10, n1, n10, s1 / n1 if n1 else None, s10 / n10 if n10 else None]

    return query


def latencies(call: Callable[[Any, Any], Any], requests: list[tuple[Any, Any]]) -> tuple[float, float]:
    """p50 and p99 in µs of ``call`` over ``requests`` (each timed alone with perf_counter_ns)."""
    clock = time.perf_counter_ns
    samples = []
    gc.disable()
    try:
        for key, at in requests:
            start = clock()
            call(key, at)
            samples.append(clock() - start)
    finally:
        gc.enable()
    samples.sort()
    return samples[len(samples) // 2] / 1000, samples[len(samples) * 99 // 100] / 1000


def ingest_rate(events: list[dict[str, Any]], batch: int = 1_000) -> float:
    """Events per second of batch ingest into a fresh state."""
    state = make_state()
    start = time.perf_counter()
    for i in range(0, len(events), batch):
        state.ingest(events[i:i + batch])
    return len(events) / (time.perf_counter() - start)


def main(quick: bool) -> None:
    """Run every measurement and print the Markdown tables."""
    calls = 20_000 if quick else 60_000
    events = make_events(KEYS, EVENTS_PER_KEY // (5 if quick else 1))
    state = make_state()
    state.ingest(events)
    as_of = max(e["ts"] for e in events) + timedelta(seconds=1)
    t = (as_of - datetime(1970, 1, 1, tzinfo=UTC)) // US
    rng = random.Random(2)
    keys = [f"u{rng.randrange(KEYS)}" for _ in range(calls)]
    for key in set(keys):
        state.query(key, as_of)  # first query per key builds its derived arrays: not part of steady state
    held: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for key, events_of_key in state._keys.items():
        values = events_of_key.raw[0]
        prefix = [0.0]
        for v in values:
            prefix.append(prefix[-1] + v)
        held[key] = (events_of_key.ts, values, prefix)
    base, floor = baseline(held), baseline_prefix_only(held)
    for key in keys[:200]:
        got, want = state.query(key, as_of)[0], base(key, t)
        assert all(abs(g - w) <= 1e-6 * max(1.0, abs(w)) for g, w in zip(got, want, strict=True) if w is not None)
    rows = [("fdag query (10 specs)", *latencies(state.query, [(k, as_of) for k in keys])),
            ("plain Python, same 10 values", *latencies(base, [(k, t) for k in keys])),
            ("plain Python, 7 prefix-sum values (floor)", *latencies(floor, [(k, t) for k in keys]))]
    rates = sorted(ingest_rate(events) for _ in range(3))
    frame = pl.DataFrame(make_events(KEYS, 200 if quick else EVENTS_PER_KEY, seed=3))
    loader = make_state()
    start = time.perf_counter()
    loader.bootstrap(frame, {"__value__amount": frame["amount"]})
    bootstrap_s = time.perf_counter() - start

    print(f"Window state benchmark: {KEYS} keys x {len(events) // KEYS} events/key, {len(SPECS)} specs, "
          f"{calls} queries (Python {sys.version.split()[0]})\n")
    print("| measure | p50 µs | p99 µs | p50 vs floor | p99 vs floor |")
    print("| --- | ---: | ---: | ---: | ---: |")
    floor_p50, floor_p99 = rows[-1][1], rows[-1][2]
    for name, p50, p99 in rows:
        print(f"| {name} | {p50:.2f} | {p99:.2f} | {p50 / floor_p50:.1f}x | {p99 / floor_p99:.1f}x |")
    print(f"\n| ingest (batches of 1,000 dicts, {len(events):,} events) | median of 3 |")
    print("| --- | ---: |")
    print(f"| events/s | {statistics.median(rates):,.0f} |")
    print(f"\n| bootstrap ({frame.height:,}-event frame, values precomputed) | {bootstrap_s:.2f} s |")
    print("| --- | ---: |")
    print(f"\nCommand: PYTHONPATH=. .venv/bin/python benchmarks/bench_window_state.py{' --quick' if quick else ''}")


if __name__ == "__main__":
    if "--mix" in sys.argv:
        from bench_online_mix import main as mix_main

        mix_main("--quick" in sys.argv)
    else:
        main("--quick" in sys.argv)
