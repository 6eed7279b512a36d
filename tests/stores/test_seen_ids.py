"""The dedup memory of ``MemoryStore`` states: ``SeenIds`` maps ids like one dict (against a dict, on random
operations and on ids of different types that compare equal), and a state spreads its ids over the shards."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._stores.memory import MemoryStore
from fdag._stores.seen_ids import SHARD_SHIFT, SHARDS, SeenIds
from fdag._values.durations import parse_duration
from fdag._values.types import FType

ids = st.integers(-5, 5) | st.integers() | st.text(max_size=3) | st.sampled_from([1.0, True, False, 0.0, -1])
operations = st.lists(st.tuples(st.sampled_from(["remember", "forget", "update", "get"]), ids,
                                st.integers(0, 2**40)), max_size=80)


@settings(max_examples=200, deadline=None)
@given(operations)
def test_seen_ids_map_like_one_dict(steps: list[tuple[str, Any, int]]) -> None:
    seen, model = SeenIds(), {}
    for op, event_id, ts in steps:
        if op == "remember":  # what the ingest loops do
            seen.shard_of(event_id)[event_id] = ts
            model[event_id] = ts
        elif op == "forget" and event_id in model:
            seen.forget(event_id)
            del model[event_id]
        elif op == "update":
            seen.update([(event_id, ts), (event_id, ts + 1)])
            model.update([(event_id, ts), (event_id, ts + 1)])
        assert seen.get(event_id) == model.get(event_id)
    assert len(seen) == len(model)
    assert sorted(seen.items(), key=repr) == sorted(model.items(), key=repr)


def test_a_state_spreads_its_remembered_ids_over_the_shards() -> None:
    """No shard holds more than a few times its share (or, for sequential int ids, which share a shard 4,096 at a
    time, more than 4,096), so growing one rehashes a small part of the ids: the stall a single dict of millions of
    ids causes (``benchmarks/bench_ingest_stalls.py``) is gone, for int and string ids alike."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    for make_id in (int, lambda i: f"txn-{i}"):
        source = Source("payments", key="user", timestamp="ts", id="txn_id", max_future=None,
                        schema={"txn_id": int if make_id is int else str, "user": str, "ts": datetime,
                                "amount": float})
        agg = parse_aggregation("sum")
        spec = WindowSpec("amount_sum_1d", source, lambda amount: amount, ("amount",), FType(float), agg,
                          parse_duration("1d"), "1d", "left", None, agg.result_type(FType(float)))
        state = MemoryStore().window_state(source, [spec], {spec.value_column: lambda e: e["amount"]})
        count = 200_000
        events = [{"txn_id": make_id(i), "user": f"u{i % 50}", "ts": start + timedelta(milliseconds=100 * i),
                   "amount": 1.0} for i in range(count)]
        for i in range(0, count, 20_000):
            state.ingest(events[i:i + 20_000])
        assert state.ingest(events[:10]).duplicates == 10
        seen = state._seen
        assert seen is not None and len(seen) == count
        assert all(seen.get(e["txn_id"]) is not None for e in events[::997])  # the batch loop's inline shard_of
        assert max(map(len, seen.shards)) <= max(2**SHARD_SHIFT, 3 * count // SHARDS) < count // 40
