"""RedisStore's pre-aggregated tiles against MemoryStore and a brute-force oracle, on a real redis-server.

Random histories (out of order within the allowed lateness, re-sent ids, nulls, equal timestamps) are ingested in
random batches into both stores; every aggregation over every column it accepts, over two windows, closed left
and both, is queried at instants the contract covers. The oracle aggregates the window's events by hand: Redis
must equal it exactly (float sums are the correctly rounded exact sum, variances the correctly rounded exact
one); MemoryStore within its promise (floats to 1e-9).
"""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fdag._stores.redis_tiles as redis_tiles
from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._stores import redis_events, redis_window_scripts
from fdag._stores.memory import MemoryStore
from fdag._stores.redis import RedisStore
from fdag._values.instants import micros
from fdag._values.types import FType
from tests.redis_server import RedisServer
from tests.redis_server import redis_server as redis_server  # the fixture, re-exported for pytest

T0 = datetime(2024, 3, 1, tzinfo=UTC)
LATENESS = timedelta(minutes=5)
SOURCE = Source("pay", key="user", timestamp="ts", id="pid", allowed_lateness=LATENESS,
                schema={"pid": str, "user": int, "ts": datetime, "x": float, "n": int, "s": str, "b": bool})
COLUMNS = {"x": FType(float), "n": FType(int), "s": FType(str), "b": FType(bool)}
AGGREGATIONS = ["count", "sum", "mean", "min", "max", "std", "var", "first", "last", "distinct_count", "last_n(3)"]
OVERS = (timedelta(minutes=10), timedelta(hours=1))


def column_function(column: str) -> Any:
    """The per-event function reading ``column`` (its name makes the value column)."""
    def function(**event: Any) -> Any:
        return event[column]
    function.__name__ = f"value_{column}"
    return function


FUNCTIONS = {column: column_function(column) for column in COLUMNS}


def make_specs() -> list[WindowSpec]:
    """Every aggregation over every column whose type it accepts, over both windows, closed left and both."""
    specs = []
    for column, ftype in COLUMNS.items():
        for text in AGGREGATIONS:
            agg = parse_aggregation(text)
            if not agg.kind.accepts_type(ftype):
                continue
            for over in OVERS:
                for closed in ("left", "both"):
                    specs.append(WindowSpec(f"{column}_{agg.label}_{over}_{closed}", SOURCE, FUNCTIONS[column],
                                            (column,), ftype, agg, over, str(over), closed, None,
                                            agg.result_type(ftype)))
    return specs


SPECS = make_specs()
VALUES = {f"__value__value_{column}": (lambda c: lambda e: e[c])(column) for column in COLUMNS}

floats = st.one_of(st.none(), st.sampled_from([0.1, -0.0, 1e16, -1e16, 3.0, 1e-300]),
                   st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
event_values = st.fixed_dictionaries({
    "x": floats, "n": st.one_of(st.none(), st.integers(-10**6, 10**6)),
    "s": st.one_of(st.none(), st.sampled_from(["a", "b", "é", "zz"])), "b": st.one_of(st.none(), st.booleans()),
})


@st.composite
def histories(draw: Any) -> tuple[list[dict[str, Any]], list[int]]:
    """Events in arrival order (disorder within the lateness, about a tenth re-sent) and batch sizes."""
    count = draw(st.integers(20, 160))
    seconds = sorted(draw(st.lists(st.integers(0, 2 * 3600 * 10**6), min_size=count, max_size=count)))
    events = []
    for i, micro in enumerate(seconds):
        if i and draw(st.booleans()) and draw(st.booleans()) and draw(st.booleans()):
            micro = seconds[i - 1]  # equal timestamps: ties ordered by id
        events.append({"pid": f"p{draw(st.integers(0, 10**6)):07d}-{i}", "user": draw(st.integers(0, 2)),
                       "ts": T0 + timedelta(microseconds=micro), **draw(event_values)})
    delays = [draw(st.integers(0, LATENESS // timedelta(microseconds=1))) for _ in events]
    arrival = [e for _, e in sorted(zip((e["ts"] + timedelta(microseconds=d) for e, d in zip(events, delays,
                                                                                            strict=True)),
                                        events, strict=True), key=lambda pair: pair[0])]
    resent = draw(st.lists(st.sampled_from(events), max_size=count // 8))
    for event in resent:  # within 30 minutes: not after the retention, where MemoryStore's lazy eviction of ids
        at = arrival.index(event)  # may still count the copy a duplicate (Redis evicts ids at once: too late)
        until = next((j for j in range(at, len(arrival)) if arrival[j]["ts"] > event["ts"] + timedelta(minutes=30)),
                     len(arrival))
        arrival.insert(draw(st.integers(at + 1, until)), event)
    sizes = draw(st.lists(st.integers(1, 60), min_size=1, max_size=12))
    return arrival, sizes


def exact_value(text: str, values: list[Any], exact: bool) -> Any:
    """The oracle: ``text`` over the window's non-null values in (timestamp, id) order, by hand."""
    agg = parse_aggregation(text)
    if agg.name == "distinct_count":
        return len(set(values))
    if agg.name == "last_n":
        return values[-3:]
    if agg.name == "count":
        return len(values)
    if not values:
        return (0 if exact else 0.0) if agg.name == "sum" else None
    if agg.name == "sum":
        return sum(values) if exact else math.fsum(values)
    if agg.name == "mean":
        return sum(values) / len(values) if exact else math.fsum(values) / len(values)
    if agg.name in ("min", "max"):
        return min(values) if agg.name == "min" else max(values)
    if agg.name in ("first", "last"):
        return values[0] if agg.name == "first" else values[-1]
    if len(values) < 2:
        return None
    n, total, squares = len(values), sum(map(Fraction, values)), sum(Fraction(v) ** 2 for v in values)
    variance = float((n * squares - total * total) / (n * (n - 1)))
    return math.sqrt(variance) if agg.name == "std" else variance


def oracle(events: list[dict[str, Any]], user: int, as_of: datetime, specs: list[WindowSpec] = SPECS) -> list[Any]:
    """Every spec's value for ``user`` at ``as_of`` from the accepted events (first copy of each id)."""
    held = {e["pid"]: e for e in reversed(events)}.values()
    ordered = sorted((e for e in held if e["user"] == user), key=lambda e: (e["ts"], e["pid"]))
    out = []
    for spec in specs:
        column = spec.params[0]
        inside = [e[column] for e in ordered if as_of - spec.over <= e["ts"] and
                  (e["ts"] < as_of or (spec.closed == "both" and e["ts"] == as_of))]
        values = [v for v in inside if v is not None]
        out.append(exact_value(spec.agg.name if spec.agg.n is None else "last_n(3)", values,
                               COLUMNS[column].base in (int, bool)))
    return out


def assert_sealed_only_behind_the_watermark(store: RedisStore, state: Any) -> None:
    """Every tile kept ends at or before the watermark, and no registered tile the watermark passed waits (the
    batches here are far below the sealing limit)."""
    top = micros(state.watermark)
    widths = state._plan.widths
    for name in store.client.scan_iter(f"{state.prefix}t:*"):
        levels = []
        for field in tile_fields(store, name):
            level, start = map(int, field.split(b":"))
            assert start + widths[level] <= top, (name, field, top)
            levels.append(level)
        assert int(store.client.hget(name, "finest")) <= min(levels)  # a query's cover starts there
    assert store.client.zcount(f"{state.prefix}open", "-inf", top) == 0


def tile_fields(store: RedisStore, name: str | bytes) -> list[bytes]:
    """The tiles' fields of a tile hash (``level:start``), without its ``finest`` level."""
    return [field for field in store.client.hkeys(name) if field != b"finest"]


def raw_events_of(reply: list[Any], window: int) -> int:
    """How many of a ``TILE_QUERY`` reply's raw events lie in the ranges window ``window`` reads raw."""
    spans = reply[5 + window][1]
    ts = [int(member.split(b",", 1)[0]) for member in members(reply[4])]
    return sum(spans[j] <= x < spans[j + 1] for x in ts for j in range(0, len(spans), 2))


def members(runs: list[list[bytes]]) -> list[bytes]:
    """The members of a script's runs of events, in order."""
    return [member for run in runs for member in run]


def close(got: Any, want: Any) -> bool:
    """Within MemoryStore's promise: floats to 1e-9 relative or absolute (a spread of equal values may be 1e-17
    where the exact one is 0), everything else equal."""
    if isinstance(got, float) and isinstance(want, float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9)
    return bool(got == want)


@pytest.mark.parametrize("dense", [2, 16])
@given(history=histories(), probes=st.lists(st.integers(0, 3600), min_size=3, max_size=6),
       chosen=st.one_of(st.just(SPECS), st.lists(st.sampled_from(SPECS), min_size=1, max_size=12, unique_by=id)),
       part=st.sampled_from([redis_events._PART, 1, 3]))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
def test_tiles_equal_memory_and_brute_force(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, dense: int,
                                            history: tuple[list[dict[str, Any]], list[int]],
                                            probes: list[int], chosen: list[WindowSpec], part: int) -> None:
    """Every spec, or a few (tiles then keep only what those read); batches in one script call or in parts."""
    monkeypatch.setattr(redis_tiles, "DENSE", dense)  # a low threshold keeps tiles at every level
    monkeypatch.setattr(redis_events, "_PART", part)
    monkeypatch.setattr(redis_events, "_EVENTS_PER_KEY", 10**9)  # (3 users: split all the same)
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    redis_state = store.window_state(SOURCE, chosen, VALUES)
    memory_state = MemoryStore().window_state(SOURCE, chosen, VALUES)
    arrival, sizes = history
    position, batch = 0, 0
    while position < len(arrival):
        chunk = arrival[position : position + sizes[batch % len(sizes)]]
        position, batch = position + len(chunk), batch + 1
        assert redis_state.ingest(chunk) == memory_state.ingest(chunk)
        assert_sealed_only_behind_the_watermark(store, redis_state)
    watermark = memory_state.watermark
    assert watermark is not None and redis_state.watermark == watermark
    stamps = sorted({e["ts"] for e in arrival if e["ts"] >= watermark - LATENESS})
    instants = [watermark - LATENESS + timedelta(seconds=p, microseconds=p * 7) for p in probes] + stamps[-3:]
    for user in range(3):
        for as_of in instants:
            want = oracle(arrival, user, as_of, chosen)
            got, got_watermark = redis_state.query(user, as_of)
            memory, _ = memory_state.query(user, as_of)
            assert got_watermark == watermark
            for spec, g, m, w in zip(chosen, got, memory, want, strict=True):
                assert type(g) is type(w) and (g == w or (g != g and w != w)), (spec.node, as_of, g, w)
                assert close(m, w), (spec.node, as_of, m, w)


def test_a_value_tiles_cannot_hold_exactly_reads_raw_events(redis_server: RedisServer,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Ints beyond 2**53 and infinities mark their tiles inexact; the window is then computed from raw events."""
    monkeypatch.setattr(redis_tiles, "DENSE", 1)
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    redis_state = store.window_state(SOURCE, SPECS, VALUES)
    memory_state = MemoryStore().window_state(SOURCE, SPECS, VALUES)
    events = [{"pid": f"p{i}", "user": 1, "ts": T0 + timedelta(seconds=i), "x": [1.0, math.inf, 2.5][i % 3],
               "n": [2**55 + 1, 3, -(2**56)][i % 3], "s": "a", "b": True} for i in range(40)]
    assert redis_state.ingest(events) == memory_state.ingest(events)
    as_of = T0 + timedelta(seconds=41)
    got, _ = redis_state.query(1, as_of)
    want, _ = memory_state.query(1, as_of)
    by_node = dict(zip((spec.node for spec in SPECS), got, strict=True))
    assert by_node["n_sum_0:10:00_left"] == sum(e["n"] for e in events)
    assert by_node["x_sum_0:10:00_left"] == math.inf
    assert [g == w or (g != g and w != w) for g, w in zip(got, want, strict=True)] == [True] * len(SPECS)


@pytest.mark.parametrize("xs", [[1e160, 2.0], [1e200, -1e200, 3.0], [1e308, 1.5e308, -1e308, 3.0]])
def test_floats_whose_exact_aggregate_overflows_equal_memory(redis_server: RedisServer,
                                                            monkeypatch: pytest.MonkeyPatch, xs: list[float]) -> None:
    """Finite floats whose exact variance (or sum) is beyond the doubles: the window is computed with the in-memory
    plan, equal to MemoryStore (the exact variance raised OverflowError converting to a float)."""
    monkeypatch.setattr(redis_tiles, "DENSE", 1)
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    redis_state = store.window_state(SOURCE, SPECS, VALUES)
    memory_state = MemoryStore().window_state(SOURCE, SPECS, VALUES)
    events = [{"pid": f"p{i}", "user": 1, "ts": T0 + timedelta(seconds=i), "x": xs[i % len(xs)], "n": i, "s": "a",
               "b": True} for i in range(40)]
    assert redis_state.ingest(events) == memory_state.ingest(events)
    for as_of in (T0 + timedelta(seconds=41), T0 + timedelta(seconds=20, microseconds=5)):  # tiles and edges
        got, _ = redis_state.query(1, as_of)
        want, _ = memory_state.query(1, as_of)
        assert [g == w or (g != g and w != w) for g, w in zip(got, want, strict=True)] == [True] * len(SPECS)


def test_dense_keys_are_read_from_tiles(redis_server: RedisServer) -> None:
    """A dense history keeps the tiles that hold enough events, and a query merges them instead of fetching the
    window's events."""
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    redis_state = store.window_state(SOURCE, SPECS, VALUES)
    events = [{"pid": f"p{i:05d}", "user": 1, "ts": T0 + timedelta(milliseconds=250 * i), "x": i * 0.1,
               "n": i, "s": "ab"[i % 2], "b": i % 3 == 0} for i in range(20_000)]  # 4 per second for 83 minutes
    for start in range(0, len(events), 2_000):
        redis_state.ingest(events[start : start + 2_000])
    levels = {name.split(b":")[0] for name in tile_fields(store, f"{redis_state.prefix}t:1")}
    assert levels == {b"2", b"3", b"4"}  # finer tiles (0.12 s, 0.95 s) hold fewer than 16 events: read raw
    assert store.client.hget(f"{redis_state.prefix}t:1", "finest") == b"2"  # the query covers from level 2
    as_of = events[-1]["ts"] + timedelta(seconds=1)
    reply = store.script("tile_query", redis_window_scripts.TILE_QUERY,
                         (redis_state._key_name(1), *redis_state._clock_keys, f"{redis_state.prefix}t:1"),
                         redis_state._plan.args(micros(as_of), redis_state._retention))
    assert reply[3] == 0  # the key has tiles
    hour = next(w for w, (over, _, _) in enumerate(redis_state._plan.windows) if over == 3600 * 10**6)
    merged = reply[5 + hour][0]
    assert merged and int(merged.split(b",")[0]) > 13_000  # 14,400 events in the hour
    assert raw_events_of(reply, hour) < 1_000
    got, want = redis_state.query(1, as_of)[0], oracle(events, 1, as_of)
    assert got == want  # exact: the float variances too, where the in-memory plan is within 1e-10
    assert all(map(close, redis_state.query_raw(1, as_of)[0], want))


def test_bootstrap_of_a_hot_key_spans_script_calls(redis_server: RedisServer) -> None:
    """A key with more rows than one script call takes is loaded in several; its tiles are those of one ingest."""
    import polars as pl

    events = [{"pid": f"p{i:05d}", "user": 1, "ts": T0 + timedelta(milliseconds=700 * i), "x": (i % 7) * 0.3,
               "n": i % 5, "s": "abc"[i % 3], "b": i % 2 == 0} for i in range(5_000)]
    frame = pl.DataFrame(events)
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    loaded = store.window_state(SOURCE, SPECS, VALUES)
    sizes: list[int] = []
    pipeline = store.pipeline_scripts

    def recorded(name: str, text: str, calls: Any, retry: bool = True) -> list[Any]:
        sizes.extend(len(args) for _, args in calls)
        return pipeline(name, text, calls, retry)

    store.pipeline_scripts = recorded  # type: ignore[method-assign]
    streamed_store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    streamed = streamed_store.window_state(SOURCE, SPECS, VALUES)
    assert loaded.bootstrap(frame) == MemoryStore().window_state(SOURCE, SPECS, VALUES).bootstrap(frame)
    streamed.ingest(events)
    as_of = events[-1]["ts"] + timedelta(seconds=1)
    assert loaded.query(1, as_of)[0] == streamed.query(1, as_of)[0] == oracle(events, 1, as_of)
    assert len(sizes) > 2 and max(sizes) <= 8 + 2_000  # 2,000 rows per call at most


def streamed(user: Any, start: datetime, count: int, step: timedelta, tag: str) -> list[dict[str, Any]]:
    """``count`` events of ``user`` every ``step`` from ``start``, in time order."""
    return [{"pid": f"{tag}{i:06d}", "user": user, "ts": start + i * step, "x": (i % 11) * 0.7, "n": i % 7,
             "s": "abc"[i % 3], "b": i % 2 == 0} for i in range(count)]


def streamed_state(redis_server: RedisServer, events: list[dict[str, Any]], batch: int) -> tuple[RedisStore, Any]:
    """A fresh namespace's window state fed ``events`` in order, ``batch`` at a time (a stream's batches)."""
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    state = store.window_state(SOURCE, SPECS, VALUES)
    for first in range(0, len(events), batch):
        state.ingest(events[first : first + batch])
    return store, state


def test_a_hot_stream_seals_its_tiles_as_the_watermark_passes_them(redis_server: RedisServer) -> None:
    """Small in-order batches (a stream): tiles whose end the watermark passed are sealed at every level dense
    enough, none past it exists, and a query reads the hour from sealed tiles, equal to the oracle."""
    events = streamed(1, T0, 12_000, timedelta(milliseconds=500), "h")  # 2 per second for 100 minutes
    store, state = streamed_state(redis_server, events, 50)
    assert_sealed_only_behind_the_watermark(store, state)
    levels = {int(name.split(b":")[0]) for name in tile_fields(store, f"{state.prefix}t:1")}
    assert levels == {2, 3, 4}  # 7.6 s, 61 s, 8 min; the finer ones (0.12 s, 0.95 s) hold fewer than 16
    as_of = events[-1]["ts"] + timedelta(milliseconds=1)
    reply = store.script("tile_query", redis_window_scripts.TILE_QUERY,
                         (state._key_name(1), *state._clock_keys, f"{state.prefix}t:1"),
                         state._plan.args(micros(as_of), state._retention))
    hour = next(w for w, (over, _, _) in enumerate(state._plan.windows) if over == 3600 * 10**6)
    assert int(reply[5 + hour][0].split(b",")[0]) > 6_000  # 7,200 events in the hour
    assert raw_events_of(reply, hour) < 1_000
    assert state.query(1, as_of)[0] == oracle(events, 1, as_of)


def test_a_late_event_updates_its_sealed_tile(redis_server: RedisServer) -> None:
    """An event within the allowed lateness that lands in a sealed tile changes that tile in place."""
    events = streamed(1, T0, 3_000, timedelta(milliseconds=200), "l")  # 10 minutes
    store, state = streamed_state(redis_server, events, 100)
    hash_name = f"{state.prefix}t:1"
    before = {field: store.client.hget(hash_name, field) for field in store.client.hkeys(hash_name)}
    late = {**events[-400], "pid": "late", "ts": events[-400]["ts"] + timedelta(microseconds=3)}
    assert state.ingest([late]).accepted == 1
    after = {field: store.client.hget(hash_name, field) for field in store.client.hkeys(hash_name)}
    changed = {field for field in before if before[field] != after.get(field)}
    widths = state._plan.widths
    t = micros(late["ts"])
    assert changed and all(int(f.split(b":")[1]) <= t < int(f.split(b":")[1]) + widths[int(f.split(b":")[0])]
                           for f in changed)
    as_of = events[-1]["ts"] + timedelta(seconds=1)
    assert state.query(1, as_of)[0] == oracle([*events, late], 1, as_of)


def test_a_late_event_under_a_sparse_finer_range_updates_its_sealed_tiles(redis_server: RedisServer) -> None:
    """An event every 2 s seals tiles at 61 s and 8 min, none at 7.6 s (fewer than DENSE; ingest builds nothing
    finer there): a late event updates its sealed tiles through that sparse range, to what rebuilding them from
    the events they cover gives (re-sending the event rebuilds them), and a query equals the oracle."""
    events = streamed(1, T0, 1_500, timedelta(seconds=2), "p")  # 50 minutes
    store, state = streamed_state(redis_server, events, 100)
    hash_name = f"{state.prefix}t:1"
    assert {int(field.split(b":")[0]) for field in tile_fields(store, hash_name)} == {3, 4}
    late = {**events[-135], "pid": "late", "ts": events[-135]["ts"] + timedelta(seconds=1)}  # 4.5 minutes late
    before = store.client.hgetall(hash_name)
    assert state.ingest([late]).accepted == 1
    updated = store.client.hgetall(hash_name)
    changed = {int(field.split(b":")[0]) for field in before if field != b"finest" and before[field] != updated[field]}
    assert 3 in changed and changed <= {3, 4}
    assert state.ingest([late]).duplicates == 1  # re-sent: its sealed tiles are rebuilt from their events
    assert store.client.hgetall(hash_name) == updated
    as_of = events[-1]["ts"] + timedelta(seconds=1)
    assert state.query(1, as_of)[0] == oracle([*events, late], 1, as_of)


def test_keys_have_their_own_phase_and_sparse_keys_no_tile_work(redis_server: RedisServer) -> None:
    """Two hot keys' tiles start at different instants; a key with a few events registers nothing."""
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    state = store.window_state(SOURCE, SPECS, VALUES)
    hot = sorted(streamed(1, T0, 4_000, timedelta(milliseconds=300), "a")
                 + streamed(2, T0, 4_000, timedelta(milliseconds=300), "b"), key=lambda e: e["ts"])
    sparse = streamed(0, T0, 5, timedelta(minutes=3), "c")
    arrival = sorted(hot + sparse, key=lambda e: e["ts"])
    for first in range(0, len(arrival), 200):
        state.ingest(arrival[first : first + 200])
    coarse = state._plan.widths[-1]
    starts = [{int(f.split(b":")[1]) % coarse for f in tile_fields(store, f"{state.prefix}t:{user}")
               if f.startswith(b"4:")} for user in (1, 2)]
    assert starts[0] and starts[1] and starts[0].isdisjoint(starts[1])
    assert not store.client.exists(f"{state.prefix}t:0")
    assert not [m for m in store.client.zrange(f"{state.prefix}open", 0, -1) if m.endswith(b"e:0")]
    as_of = arrival[-1]["ts"] + timedelta(seconds=1)
    for user in (0, 1, 2):
        assert state.query(user, as_of)[0] == oracle(arrival, user, as_of)


def test_tiles_left_for_a_later_batch_are_read_raw(redis_server: RedisServer) -> None:
    """More tiles due than one batch seals: the rest wait in ``open``, the query reads their events raw and
    is exact, and the following batches seal them."""
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    state = store.window_state(SOURCE, SPECS, VALUES)
    users = range(120)
    history = sorted((e for user in users for e in streamed(user, T0, 100, timedelta(seconds=1), f"u{user}-")),
                     key=lambda e: e["ts"])
    state.ingest(history)  # one batch: the tiles holding its last events stay open, registered
    assert store.client.zcard(f"{state.prefix}open") > 100
    later = {**history[-1], "pid": "later", "user": 0, "ts": history[-1]["ts"] + timedelta(minutes=9)}
    state.ingest([later])  # the watermark passes them all: more due than one batch of 1 seals (64 + 1)
    top = micros(state.watermark)
    assert store.client.zcount(f"{state.prefix}open", "-inf", top) > 0
    as_of = later["ts"] + timedelta(seconds=1)
    events = [*history, later]
    for user in users:
        assert state.query(user, as_of)[0] == oracle(events, user, as_of)
    for i in range(200):
        if not store.client.zcount(f"{state.prefix}open", "-inf", top):
            break
        state.ingest([{**later, "pid": f"again{i}", "ts": later["ts"] + timedelta(microseconds=i + 1)}])
    assert store.client.zcount(f"{state.prefix}open", "-inf", top) == 0
    assert_sealed_only_behind_the_watermark(store, state)


def tile_query(store: RedisStore, state: Any, user: Any, as_of: datetime) -> list[Any]:
    """The raw ``TILE_QUERY`` reply for ``user`` at ``as_of``."""
    return store.script("tile_query", redis_window_scripts.TILE_QUERY,
                        (state._key_name(user), *state._clock_keys, f"{state.prefix}t:{user}"),
                        state._plan.args(micros(as_of), state._retention))


def test_windows_ending_together_read_their_edge_events_once(redis_server: RedisServer) -> None:
    """The 10-minute and 1-hour windows (and the raw specs' hour) end at ``as_of``, so their raw ranges overlap:
    the reply holds every event of the union of those ranges exactly once, and the values equal the oracle."""
    events = streamed(1, T0, 9_000, timedelta(milliseconds=500), "s")  # 2 per second for 75 minutes
    store, state = streamed_state(redis_server, events, 500)
    last = events[-1]["ts"]
    for as_of in (last + timedelta(milliseconds=1), last, last - timedelta(minutes=4, microseconds=250_001)):
        reply = tile_query(store, state, 1, as_of)
        t = micros(as_of)
        spans = [(w[1][j], w[1][j + 1]) for w in reply[5:] for j in range(0, len(w[1]), 2)]
        spans.append((t - 3600 * 10**6, t + 1))  # the raw specs' hour, as_of included (closed both)
        tails = [lo for lo, hi in spans if hi >= t]
        assert len(tails) >= 3  # every window reads raw up to as_of: the ranges overlap
        union = sorted({m for lo, hi in spans for m in store.client.zrangebyscore(state._key_name(1), lo, f"({hi}")})
        got = members(reply[4])
        assert got == sorted(got, key=lambda m: int(m.split(b",", 1)[0]))  # in score order
        assert sorted(got) == union and len(got) == len(set(got))
        assert state.query(1, as_of)[0] == oracle(events, 1, as_of)


def test_the_finest_level_recorded_only_saves_work(redis_server: RedisServer) -> None:
    """A query covers from the level the tile hash records as the finest sealed; whatever the field says (too
    coarse: finer tiles are read raw; too fine; missing, as in data written before it), the values are exact."""
    events = streamed(1, T0, 9_000, timedelta(milliseconds=500), "f")
    store, state = streamed_state(redis_server, events, 500)
    hash_name = f"{state.prefix}t:1"
    assert store.client.hget(hash_name, "finest") == b"2"
    as_of = events[-1]["ts"] + timedelta(seconds=1)
    want = oracle(events, 1, as_of)
    hour = next(w for w, (over, _, _) in enumerate(state._plan.windows) if over == 3600 * 10**6)
    raw = {}
    for finest in ("2", "4", "0", None):
        if finest is None:
            store.client.hdel(hash_name, "finest")
        else:
            store.client.hset(hash_name, "finest", finest)
        raw[finest] = raw_events_of(tile_query(store, state, 1, as_of), hour)
        assert state.query(1, as_of)[0] == want, finest
    assert raw["2"] == raw["0"] == raw[None] < raw["4"]  # level 4 (8 min) alone leaves more of the hour raw


def test_a_key_whose_tiles_are_all_evicted_loses_its_tile_hash(redis_server: RedisServer) -> None:
    """Once eviction removed a key's last tile, its hash goes too (with its ``finest`` field): the key is read
    as one without tiles again."""
    events = streamed(1, T0, 3_000, timedelta(milliseconds=500), "e")
    store, state = streamed_state(redis_server, events, 500)
    assert store.client.exists(f"{state.prefix}t:1")
    later = {**events[-1], "pid": "later", "ts": events[-1]["ts"] + timedelta(hours=3)}
    state.ingest([later])  # the horizon passes every tile of the key
    assert not store.client.exists(f"{state.prefix}t:1", f"{state.prefix}i:1")
    as_of = later["ts"] + timedelta(seconds=1)
    assert tile_query(store, state, 1, as_of)[3] == 1
    assert state.query(1, as_of)[0] == oracle([*events, later], 1, as_of)


def test_nulls_and_events_exactly_at_the_window_edges(redis_server: RedisServer) -> None:
    """The edge events a query cuts by timestamp: events exactly at ``t - w`` (inside) and at ``t`` (inside only
    closed both), null or not, ties there ordered by id, and runs of nulls in every column from the start edge
    into sealed tiles and up to the end. Tiled and raw specs at ``t`` and 1 µs either side equal the oracle
    exactly and MemoryStore within its promise."""
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    state = store.window_state(SOURCE, SPECS, VALUES)
    memory = MemoryStore().window_state(SOURCE, SPECS, VALUES)
    events = streamed(1, T0, 9_000, timedelta(milliseconds=500), "z")  # 2 per second for 75 minutes
    as_of = events[-200]["ts"]  # an event at t; t - 10 min and t - 1 h are events' timestamps too
    edges = {as_of - over for over in OVERS} | {as_of}
    nulls = {"x": None, "n": None, "s": None, "b": None}
    for event in events:
        at_edge = event["ts"] in edges
        in_run = (timedelta(0) <= event["ts"] - (as_of - OVERS[0]) < timedelta(seconds=40)  # 80 null events
                  or timedelta(0) < as_of - event["ts"] <= timedelta(seconds=30))  # and 60 up to t
        if at_edge or in_run:
            event.update(nulls)
    ties = [{**e, "pid": e["pid"] + "-tie", "x": 1.5, "n": 2, "s": "t", "b": False}
            for e in events if e["ts"] in edges]  # a non-null event beside each null one at the edges
    events += ties
    for first in range(0, len(events), 500):
        batch = events[first : first + 500]
        assert state.ingest(batch) == memory.ingest(batch)
    assert store.client.exists(f"{state.prefix}t:1")  # dense: read from tiles
    for probe in (as_of, as_of + timedelta(microseconds=1), as_of - timedelta(microseconds=1)):
        want = oracle(events, 1, probe)
        got, _ = state.query(1, probe)
        held, _ = memory.query(1, probe)
        for spec, g, m, w in zip(SPECS, got, held, want, strict=True):
            assert type(g) is type(w) and g == w, (spec.node, probe, g, w)
            assert close(m, w), (spec.node, probe, m, w)


def test_tiles_of_a_source_without_ids(redis_server: RedisServer) -> None:
    """Without ids a stored event ends with its arrival number: the tiles built from the batch's events and from
    the stored ones (sealing, a late event's update) read the same columns, and equal the oracle."""
    source = Source("taps", key="user", timestamp="ts", allowed_lateness=LATENESS,
                    schema={"user": int, "ts": datetime, "x": float})
    specs = [WindowSpec(f"x_{agg.label}_{over}", source, FUNCTIONS["x"], ("x",), FType(float), agg, over, str(over),
                        "left", None, agg.result_type(FType(float)))
             for agg in map(parse_aggregation, ("count", "sum", "min", "max", "std", "last")) for over in OVERS]
    store = RedisStore(redis_server.url, namespace=f"tiles-{uuid.uuid4().hex[:8]}")
    state = store.window_state(source, specs, {"__value__value_x": lambda e: e["x"]})
    events = streamed(1, T0, 6_000, timedelta(milliseconds=500), "n")  # 2 per second for 50 minutes
    arrived = []
    for first in range(0, len(events), 200):
        batch = events[first : first + 200]
        if first >= 1_000:  # and one event a little late, into a sealed tile
            batch = [*batch, {**events[first - 400], "pid": f"late{first}", "ts": events[first - 400]["ts"]
                              + timedelta(microseconds=7), "x": 0.5}]
        state.ingest(batch)
        arrived += batch
    assert tile_fields(store, f"{state.prefix}t:1")
    for as_of in (arrived[-1]["ts"], events[-1]["ts"] + timedelta(seconds=1), events[-1]["ts"] - timedelta(minutes=3)):
        assert state.query(1, as_of)[0] == oracle(arrived, 1, as_of, specs)
