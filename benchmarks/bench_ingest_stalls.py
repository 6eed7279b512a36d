"""The longest single ingest of ``MemoryStore`` state at scale: the ids remembered for deduplication and the sweep
that expires quiet keys, each against the one-step structure it replaced, measured in the same run.

- **Remembered ids**: a state remembers every id within its retention, millions on a busy source. The two
  operations ingest does per event — remember a new id while the set grows to ``--ids``, then, at that steady
  size, forget the oldest and remember a new one (eviction's churn) — each step timed alone, ``SeenIds`` and one
  dict interleaved in rounds of 100,000 steps so a noisy neighbour hits both alike.
- **The sweep**: ``--keys`` quiet keys whose events have all expired, then single events into one busy key until
  the sweep has passed over every key: the longest of those ingests, against the time of one pass over every key
  at once (``_sweep``, what bootstrap still runs and what one ingest used to pay) on an identical state.

The total work is the same either way; what matters is that no single step stalls the state.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_ingest_stalls.py [--ids 3000000] [--keys 300000]
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._stores.memory import MemoryStore, MemoryWindowState
from fdag._stores.seen_ids import SeenIds
from fdag._values.durations import parse_duration
from fdag._values.types import FType

ROUND = 100_000


class PlainIds:
    """The baseline: one dict, as the state held its ids before."""

    def __init__(self) -> None:
        self.ids: dict[Any, int] = {}

    def remember(self, event_id: Any, ts: int) -> None:
        self.ids[event_id] = ts

    def forget(self, event_id: Any) -> None:
        del self.ids[event_id]


class ShardedIds:
    """``SeenIds``, remembering as single-event ingest does (``shard_of``)."""

    def __init__(self) -> None:
        self.seen = SeenIds()

    def remember(self, event_id: Any, ts: int) -> None:
        self.seen.shard_of(event_id)[event_id] = ts

    def forget(self, event_id: Any) -> None:
        self.seen.forget(event_id)


def run(ids: int) -> dict[str, dict[str, list[float]]]:
    """Per structure and phase, every step's wall time in ms."""
    structures: dict[str, Any] = {"one dict": PlainIds(), "SeenIds": ShardedIds()}
    times: dict[str, dict[str, list[float]]] = {name: {"grow": [], "churn": []} for name in structures}
    clock = time.perf_counter_ns

    def phase(label: str, first: int, last: int, step: Callable[[Any, int], None]) -> None:
        for start in range(first, last, ROUND):
            for name, structure in structures.items():
                out = times[name][label]
                for i in range(start, min(last, start + ROUND)):
                    begin = clock()
                    step(structure, i)
                    out.append((clock() - begin) / 1e6)

    def churn(structure: Any, i: int) -> None:
        structure.forget(i - ids)
        structure.remember(i, i)

    gc.disable()
    try:
        phase("grow", 0, ids, lambda structure, i: structure.remember(i, i))
        phase("churn", ids, 2 * ids, churn)
    finally:
        gc.enable()
    return times


START = datetime(2024, 1, 1, tzinfo=UTC)


def quiet_state(keys: int) -> MemoryWindowState:
    """A 1h-sum window state holding one event of each of ``keys`` quiet keys, all of them at ``START``."""
    source = Source("payments", key="user", timestamp="ts", id="txn_id", max_future=None, allowed_lateness="0s",
                    schema={"txn_id": int, "user": str, "ts": datetime, "amount": float})
    agg = parse_aggregation("sum")
    spec = WindowSpec("amount_sum_1h", source, lambda amount: amount, ("amount",), FType(float), agg,
                      parse_duration("1h"), "1h", "left", None, agg.result_type(FType(float)))
    state = MemoryStore().window_state(source, [spec], {spec.value_column: lambda e: e["amount"]})
    for first in range(0, keys, 10_000):
        state.ingest([{"txn_id": i, "user": f"quiet{i}", "ts": START, "amount": 1.0}
                      for i in range(first, min(keys, first + 10_000))])
    return state


def sweep(keys: int) -> tuple[float, float, int]:
    """(one pass over every key at once, ms; the longest single ingest while the sweep passes, ms; ingests)."""
    later = START + timedelta(hours=2)  # every quiet key's event has expired
    at_once = quiet_state(keys)
    at_once.ingest([{"txn_id": keys, "user": "busy", "ts": later, "amount": 1.0}])
    begin = time.perf_counter_ns()
    at_once._sweep()
    whole = (time.perf_counter_ns() - begin) / 1e6
    state = quiet_state(keys)
    longest, count, clock = 0.0, 0, time.perf_counter_ns
    gc.disable()
    try:
        while len(state._keys) > 1:
            event = {"txn_id": keys + count, "user": "busy", "ts": later + timedelta(microseconds=count),
                     "amount": 1.0}
            begin = clock()
            state.ingest([event])
            longest = max(longest, (clock() - begin) / 1e6)
            count += 1
    finally:
        gc.enable()
    return whole, longest, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=3_000_000)
    parser.add_argument("--keys", type=int, default=300_000)
    args = parser.parse_args()
    times = run(args.ids)
    print(f"Remembered ids for deduplication, {args.ids:,} ids (Python {sys.version.split()[0]})\n")
    print("| phase | structure | longest step | 99.999th percentile | total |")
    print("| --- | --- | ---: | ---: | ---: |")
    for label, title in (("grow", f"growing to {args.ids:,}"), ("churn", f"churn at {args.ids:,}")):
        for name in times:
            steps = sorted(times[name][label])
            tail = steps[min(len(steps) - 1, int(len(steps) * 0.99999))]
            print(f"| {title} | {name} | {steps[-1]:.1f} ms | {tail * 1000:.1f} µs | {sum(steps) / 1000:.2f} s |")
    whole, longest, count = sweep(args.keys)
    print(f"\nSweep of {args.keys:,} expired quiet keys: one pass at once {whole:.1f} ms; spread over {count:,} "
          f"single-event ingests, the longest {longest:.2f} ms")
    print(f"\nCommand: PYTHONPATH=. .venv/bin/python benchmarks/bench_ingest_stalls.py --ids {args.ids} "
          f"--keys {args.keys}")


if __name__ == "__main__":
    main()
