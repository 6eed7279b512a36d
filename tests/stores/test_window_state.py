"""Online window state, on both stores (``new_store``: MemoryStore and a real redis-server): every aggregation
against a brute-force oracle, eviction, errors; threads and sweeps on MemoryStore."""

from __future__ import annotations

import bisect
import math
import random
import statistics
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._stores.memory import MemoryStore
from fdag._stores.protocol import IngestReport, Store, WindowState
from fdag._values.durations import parse_duration
from fdag._values.types import FType
from fdag.errors import PointInTimeError, SourceError

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
AGGS = ("count", "sum", "mean", "min", "max", "std", "var", "first", "last", "distinct_count", "last_n(3)")
OVERS = ("30m", "1h", "2h")


def amount(amount: float | None) -> float | None:
    """Per-event value of the float column."""
    return amount


def n(n: int | None) -> int | None:
    """Per-event value of the int column."""
    return n


VALUES: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "__value__amount": lambda e: e.get("amount"),
    "__value__n": lambda e: e.get("n"),
}


def make_source(key_type: type = str, with_id: bool = True, lateness: str = "1000d") -> Source:
    schema: dict[str, Any] = {"user_id": key_type, "ts": datetime, "amount": float | None, "n": int | None}
    if with_id:
        schema["txn_id"] = str
    return Source("transactions", key="user_id", timestamp="ts", id="txn_id" if with_id else None,
                  schema=schema, allowed_lateness=lateness)


def make_spec(source: Source, agg: str, over: str, closed: str = "left", default: Any = None,
              function: Callable[..., Any] = amount) -> WindowSpec:
    aggregation = parse_aggregation(agg)
    value_type = FType(float) if function is amount else FType(int)
    return WindowSpec(f"{function.__name__}_{aggregation.label}_{over}_{closed}_{default}", source, function,
                      (function.__name__,), value_type, aggregation, parse_duration(over), over, closed, default,
                      aggregation.result_type(value_type))


def all_specs(source: Source) -> list[WindowSpec]:
    """Every aggregation x window x closed over both columns, plus a few with default=."""
    specs = [make_spec(source, agg, over, closed, None, function)
             for function in (amount, n) for agg in AGGS for over in OVERS for closed in ("left", "both")]
    defaults = {"count": -1, "sum": -2.5, "mean": 0, "min": -9.0, "first": 7.0, "last_n(3)": [1.0],
                "distinct_count": 99, "std": 1.5}
    specs += [make_spec(source, agg, "1h", "both", default) for agg, default in defaults.items()]
    specs += [make_spec(source, "sum", "30m", "left", 5, n)]
    return specs


def event(i: int | str, key: Any, minutes: float, value: float | None = 1.0, count: int | None = 1,
          **extra: Any) -> dict[str, Any]:
    return {"txn_id": f"t{i}", "user_id": key, "ts": T0 + timedelta(minutes=minutes), "amount": value, "n": count,
            **extra}


# ---------------------------------------------------------------------------------------------------- the oracle

class Oracle:
    """Brute force: hold every accepted event (first arrival of each id), filter and aggregate per query."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.events: list[tuple[int, Any, int, Mapping[str, Any]]] = []  # (arrival, key, µs, event)
        self.ids: set[Any] = set()

    def ingest(self, events: Sequence[Mapping[str, Any]]) -> None:
        for e in events:
            if self.source.id:
                if e[self.source.id] in self.ids:
                    continue
                self.ids.add(e[self.source.id])
            at = e["ts"] if e["ts"].tzinfo else e["ts"].replace(tzinfo=UTC)
            self.events.append((len(self.events), e["user_id"], _us(at), e))

    @property
    def watermark(self) -> datetime | None:
        return max((e[3]["ts"] for e in self.events), default=None)

    def query(self, spec: WindowSpec, key: Any, as_of: datetime) -> Any:
        t, over = _us(as_of), spec.over // timedelta(microseconds=1)
        upper = (lambda at: at <= t) if spec.closed == "both" else (lambda at: at < t)
        inside = [e for e in self.events if e[1] == key and t - over <= e[2] and upper(e[2])]
        tie = (lambda e: e[3]["txn_id"]) if self.source.id else (lambda e: e[0])
        inside.sort(key=lambda e: (e[2], tie(e)))
        values = [v for v in (VALUES[spec.value_column](e[3]) for e in inside) if v is not None]
        if not values:
            empty = spec.empty_value
            return float(empty) if spec.returns.base is float and isinstance(empty, int) else empty
        name = spec.agg.name
        exact = [Fraction(v) for v in values]
        if name == "count":
            return len(values)
        if name == "sum":
            return sum(values) if spec.value_type.base is int else float(sum(exact))
        if name == "mean":
            return float(sum(exact) / len(exact))
        if name in ("std", "var"):
            if len(values) < 2:
                return None
            var = statistics.variance(exact)
            return math.sqrt(var) if name == "std" else float(var)
        return {"min": min, "max": max, "first": lambda v: v[0], "last": lambda v: v[-1],
                "distinct_count": lambda v: len(set(v)), "last_n": lambda v: v[-(spec.agg.n or 0):]}[name](values)


def _us(instant: datetime) -> int:
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def assert_same(got: Any, want: Any, where: str) -> None:
    if isinstance(want, float) and isinstance(got, float):
        assert math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-6), f"{where}: {got!r} != {want!r}"
    else:
        assert got == want and type(got) is type(want), f"{where}: {got!r} ({type(got).__name__}) != {want!r}"


def check_against_oracle(state: WindowState, oracle: Oracle, keys: Sequence[Any],
                         instants: Sequence[datetime]) -> None:
    for key in keys:
        for as_of in instants:
            values, watermark = state.query(key, as_of)
            assert watermark == oracle.watermark
            for spec, got in zip(state.specs, values, strict=True):
                assert_same(got, oracle.query(spec, key, as_of), f"{spec.node} key={key!r} as_of={as_of}")


# ----------------------------------------------------------------------------------------- generated histories

# Minutes on a 15-minute grid hit window edges (30m, 1h, 2h) exactly and make timestamp ties common.
minutes = st.integers(0, 24).map(lambda k: 15 * k) | st.integers(0, 360 * 60).map(lambda s: s / 60)
floats = st.none() | st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.25, 100.0]) | st.floats(-1e6, 1e6, allow_nan=False)
ints = st.none() | st.integers(-5, 5) | st.integers(-(2**62), 2**62)


@st.composite
def histories(draw: st.DrawFn) -> tuple[Source, list[list[dict[str, Any]]], list[Any]]:
    key_type = draw(st.sampled_from([str, int]))
    with_id = draw(st.booleans())
    keys = ["a", "b"] if key_type is str else [1, 2]
    events = draw(st.lists(st.builds(
        lambda i, k, m, v, c: event(i, k, m, v, c),
        st.integers(0, 40), st.sampled_from(keys), minutes, floats, ints), max_size=60))
    if not with_id:
        for e in events:
            del e["txn_id"]
    # Arrival: roughly time order, shuffled within small batches.
    events.sort(key=lambda e: e["ts"] + timedelta(minutes=draw(st.integers(0, 90))))
    batches, i = [], 0
    while i < len(events):
        size = draw(st.integers(1, 6))
        batch = events[i:i + size]
        draw(st.randoms(use_true_random=False)).shuffle(batch)
        batches.append(batch)
        i += size
    return make_source(key_type, with_id), batches, [*keys, keys[0] * 3]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(histories(), st.lists(minutes, min_size=1, max_size=4))
def test_every_aggregation_matches_the_oracle(new_store: Callable[[], Store],
                                              history: tuple[Source, list[list[dict[str, Any]]], list[Any]],
                                              at: list[float]) -> None:
    source, batches, keys = history
    state = new_store().window_state(source, all_specs(source), VALUES)
    oracle = Oracle(source)
    instants = [T0 + timedelta(minutes=m) for m in at]
    instants += [i + timedelta(microseconds=d) for i in instants[:1] for d in (-1, 1)]
    for batch in batches:
        report = state.ingest(batch)
        oracle.ingest(batch)
        assert report.too_late == 0
        # Queries between batches exercise the lazy rebuilds; one after every event, the monotonic stacks.
        check_against_oracle(state, oracle, keys, [instants[0], T0 + timedelta(hours=7)])
    check_against_oracle(state, oracle, keys, instants)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(histories())
def test_bootstrap_equals_ingesting_the_same_events(new_store: Callable[[], Store],
                                                    history: tuple[Source, list[list[dict[str, Any]]], list[Any]]
                                                    ) -> None:
    source, batches, keys = history
    # In time order, the first copy of an id to arrive is the earliest, which a bootstrap keeps (a frame has no
    # arrival order).
    events = sorted((e for batch in batches for e in batch), key=lambda e: e["ts"])
    if not events:
        return
    specs = all_specs(source)
    ingested = new_store().window_state(source, specs, VALUES)
    ingested.ingest(events)
    frame = pl.DataFrame(events, schema={c: t.polars for c, t in source.schema.items()})
    slow = new_store().window_state(source, specs, VALUES)
    fast = new_store().window_state(source, specs, VALUES)
    slow.bootstrap(frame)
    fast.bootstrap(frame, {"__value__amount": frame["amount"], "__value__n": frame["n"]})
    for as_of in (T0 + timedelta(minutes=m) for m in (0, 60, 75, 200, 361)):
        for key in keys:
            want = ingested.query(key, as_of)
            assert slow.query(key, as_of) == want
            assert fast.query(key, as_of) == want


# ---------------------------------------------------------------------------------------------- pinned cases

def test_hand_computed_window(new_store: Callable[[], Store]) -> None:
    source = make_source()
    specs = [make_spec(source, agg, "1h") for agg in AGGS] + [make_spec(source, "sum", "1h", "both")]
    state = new_store().window_state(source, specs, VALUES)
    report = state.ingest([event(i, "u1", 10 * i, float(i)) for i in range(10)])
    assert report == IngestReport(accepted=10, duplicates=0, too_late=0)
    # A duplicate id (ignored, even with other values) and a null value (skipped by every aggregation).
    assert state.ingest([event(3, "u1", 0, 500.0), event("x", "u1", 65, None)]) == IngestReport(1, 1, 0)
    values, watermark = state.query("u1", T0 + timedelta(minutes=90))
    # Window [30m, 90m): events 3..8; closed="both" adds event 9 at exactly 90m.
    assert values == [6, 33.0, 5.5, 3.0, 8.0, math.sqrt(3.5), 3.5, 3.0, 8.0, 6, [6.0, 7.0, 8.0], 42.0]
    assert watermark == T0 + timedelta(minutes=90)
    assert state.query("nobody", T0)[0] == [0, 0.0, None, None, None, None, None, None, None, 0, [], 0.0]


def test_ties_order_by_id_then_arrival_without_id(new_store: Callable[[], Store]) -> None:
    with_id, no_id = make_source(), make_source(with_id=False)
    for source, want in ((with_id, [1.0, 2.0, [1.0, 3.0, 2.0]]), (no_id, [3.0, 2.0, [3.0, 1.0, 2.0]])):
        specs = [make_spec(source, agg, "1h") for agg in ("first", "last", "last_n(3)")]
        state = new_store().window_state(source, specs, VALUES)
        events = [event("b", "u", 5, 3.0), event("a", "u", 5, 1.0), event("c", "u", 5, 2.0)]
        if source.id is None:
            for e in events:
                del e["txn_id"]
        state.ingest(events[:1])
        state.ingest(events[1:])
        assert state.query("u", T0 + timedelta(minutes=10))[0] == want


def test_naive_and_aware_timestamps_are_utc(new_store: Callable[[], Store]) -> None:
    source = make_source()
    state = new_store().window_state(source, [make_spec(source, "sum", "1h", "both")], VALUES)
    paris = timezone(timedelta(hours=1))
    state.ingest([{**event(1, "u", 0, 1.0), "ts": datetime(2024, 3, 1, 12, 0)}])  # a batch mixing both is refused
    state.ingest([{**event(2, "u", 0, 2.0), "ts": datetime(2024, 3, 1, 13, 30, tzinfo=paris)}])
    assert state.query("u", T0 + timedelta(minutes=30)) == ([3.0], T0 + timedelta(minutes=30))
    assert state.query("u", datetime(2024, 3, 1, 13, 29, 59)) == ([2.0], T0 + timedelta(minutes=30))


def test_int_sums_are_exact_and_mean_of_ints_is_float(new_store: Callable[[], Store]) -> None:
    source = make_source()
    specs = [make_spec(source, agg, "1h", function=n) for agg in ("sum", "mean", "var", "min")]
    state = new_store().window_state(source, specs, VALUES)
    big = 2**62
    state.ingest([event(1, "u", 0, count=big), event(2, "u", 1, count=big), event(3, "u", 2, count=-3)])
    values, _ = state.query("u", T0 + timedelta(minutes=5))
    assert values[0] == 2 * big - 3 and type(values[0]) is int
    assert values[1] == float(Fraction(2 * big - 3, 3))
    assert values[2] == float(statistics.variance([big, big, -3]))
    assert values[3] == -3


def test_floats_stay_exact_next_to_huge_old_values(new_store: Callable[[], Store]) -> None:
    """Prefix sums over a history with huge values would cancel to garbage; the error bound catches it."""
    source = make_source()
    specs = [make_spec(source, agg, over) for agg in ("sum", "mean", "std", "var") for over in ("30m", "2h")]
    state = new_store().window_state(source, specs, VALUES)
    rng = random.Random(7)
    history = [event(i, "u", i * 0.1, rng.choice([1e17, -1e17, 3e15])) for i in range(600)]
    recent = [event(1000 + i, "u", 90 + i * 0.1, 1e-3 + rng.random() * 1e-6) for i in range(200)]
    state.ingest(history + recent)
    oracle = Oracle(source)
    oracle.ingest(history + recent)
    check_against_oracle(state, oracle, ["u"], [T0 + timedelta(minutes=m) for m in (100, 110, 120)])
    # Many long-running steady values: prefix sums drift but stay provably within the bound.
    steady = [event(5000 + i, "u", 200 + i * 0.01, 0.1) for i in range(5000)]
    state.ingest(steady)
    oracle.ingest(steady)
    check_against_oracle(state, oracle, ["u"], [T0 + timedelta(minutes=m) for m in (230, 250.005)])


def test_short_float_windows_are_summed_exactly(new_store: Callable[[], Store]) -> None:
    """A window of one value gives exactly that value, and a window of up to 1,000 values is within one ulp of
    ``math.fsum`` of its values, however long a history the prefix sums have run over."""
    source = make_source()
    specs = [make_spec(source, agg, over) for agg in ("sum", "mean") for over in ("30m", "3h")]
    state = new_store().window_state(source, specs, VALUES)
    rng = random.Random(11)
    history = [event(i, "u", i * 0.2, round(rng.lognormvariate(3, 1.5), 2)) for i in range(12_000)]
    state.ingest(history)
    alone = T0 + timedelta(minutes=12_000 * 0.2 + 240)
    state.ingest([event("alone", "u", (alone - T0) / timedelta(minutes=1), 22.8)])
    after = alone + timedelta(minutes=1)
    assert state.query("u", after)[0] == [22.8, 22.8, 22.8, 22.8]  # prefix differences gave 22.800000000046566
    stamps, values = [_us(e["ts"]) for e in history], [e["amount"] for e in history]
    for minutes in [rng.uniform(1, 12_000 * 0.2) for _ in range(200)]:
        at = T0 + timedelta(minutes=minutes)
        got, _ = state.query("u", at)
        for spec, value in zip(specs, got, strict=True):
            t = _us(at)
            window = values[bisect.bisect_left(stamps, t - spec.over // timedelta(microseconds=1)):
                            bisect.bisect_left(stamps, t)]
            assert 0 < len(window) <= 1_000
            exact = math.fsum(window) / (len(window) if spec.agg.name == "mean" else 1)
            assert abs(value - exact) <= math.ulp(exact), (spec.node, minutes, len(window), value, exact)


def test_infinities_and_overflowing_partial_sums(new_store: Callable[[], Store]) -> None:
    source = make_source()
    specs = [make_spec(source, agg, "1h") for agg in ("sum", "mean")]
    state = new_store().window_state(source, specs, VALUES)
    state.ingest([event(1, "a", 0, math.inf), event(2, "a", 60, 0.0),  # inf just outside [1m, 61m)
                  event(3, "b", 0, 1e308), event(4, "b", 1, 1e308), event(5, "b", 2, -1e308),
                  event(6, "c", 0, math.inf), event(7, "c", 1, -math.inf)])
    assert state.query("a", T0 + timedelta(minutes=61))[0] == [0.0, 0.0]
    assert state.query("b", T0 + timedelta(minutes=5))[0] == [1e308, 1e308 / 3]
    assert all(math.isnan(v) for v in state.query("c", T0 + timedelta(minutes=5))[0])


def test_variance_of_values_with_a_large_mean(new_store: Callable[[], Store]) -> None:
    source = make_source()
    state = new_store().window_state(source, [make_spec(source, "var", "1h")], VALUES)
    values = [1e9 + 0.01 * i for i in range(50)]
    state.ingest([event(i, "u", i * 0.5, v) for i, v in enumerate(values)])
    got = state.query("u", T0 + timedelta(minutes=40))[0][0]
    assert math.isclose(got, statistics.variance([Fraction(v) for v in values]), rel_tol=1e-9)


def test_min_max_in_the_past_and_after_out_of_order_inserts(new_store: Callable[[], Store]) -> None:
    source = make_source()
    specs = [make_spec(source, agg, "2h") for agg in ("min", "max")]
    state = new_store().window_state(source, specs, VALUES)
    state.ingest([event(i, "u", i, float((i * 37) % 11)) for i in range(60)])
    assert state.query("u", T0 + timedelta(minutes=61))[0] == [0.0, 10.0]
    assert state.query("u", T0 + timedelta(minutes=3))[0] == [0.0, 8.0]  # events 0..2: 0, 4, 8 (window ends early)
    state.ingest([event("late", "u", 30.5, -1.0)])
    assert state.query("u", T0 + timedelta(minutes=61))[0] == [-1.0, 10.0]
    assert state.query("u", T0 + timedelta(minutes=30))[0] == [0.0, 10.0]


def test_min_max_stacks_survive_random_out_of_order_inserts(new_store: Callable[[], Store]) -> None:
    source = make_source()
    specs = [make_spec(source, agg, over) for agg in ("min", "max") for over in ("30m", "2h")]
    state = new_store().window_state(source, specs, VALUES)
    oracle = Oracle(source)
    rng = random.Random(11)
    end = T0 + timedelta(hours=3)
    for i in range(300):
        batch = [event(f"{i}.{j}", "u", rng.uniform(0, 179), float(rng.randrange(50))) for j in range(rng.randrange(3))]
        state.ingest(batch)
        oracle.ingest(batch)
        check_against_oracle(state, oracle, ["u"], [end])


# --------------------------------------------------------------------------------------------------- eviction

def test_eviction_bounds_state_and_keeps_recent_results(new_store: Callable[[], Store]) -> None:
    source = make_source(lateness="10m")
    specs = [make_spec(source, agg, over) for agg in ("sum", "count", "min", "last_n(3)") for over in ("5m", "30m")]
    state = new_store().window_state(source, specs, VALUES)
    oracle = Oracle(source)
    for start in range(0, 20_000, 500):
        batch = [event(i, "u" if i % 3 else "v", i * 0.1, float(i % 17)) for i in range(start, start + 500)]
        assert state.ingest(batch).accepted == 500
        oracle.ingest(batch)
        # Retention is 30m + 10m = 400 events of one key at 10/min... of two keys: at most ~1.5x that plus slack.
        assert state.held <= 2 * (400 + 64) + 200
    watermark = state.watermark
    assert watermark == T0 + timedelta(minutes=19_999 * 0.1)
    check_against_oracle(state, oracle, ["u", "v"],
                         [watermark - timedelta(minutes=10), watermark, watermark + timedelta(minutes=7)])
    report = state.ingest([event("old", "u", 19_999 * 0.1 - 41, 1.0), event("ok", "u", 19_999 * 0.1 - 39, 1.0)])
    assert report == IngestReport(accepted=1, duplicates=0, too_late=1)


def test_quiet_keys_expire_in_sweeps_and_their_ids_are_forgotten() -> None:
    source = make_source(lateness="0s")
    state = MemoryStore().window_state(source, [make_spec(source, "count", "1m")], VALUES)
    state.ingest([event(f"q{k}", f"quiet{k}", 0) for k in range(100)])
    state.ingest([event(i, "busy", 2 + i / 10_000) for i in range(70_000)])
    assert state.held < 70_000 and all(k.startswith("busy") for k in state._keys)
    assert len(state._seen or ()) == state.held
    assert state.query("quiet1", state.watermark) == ([0], state.watermark)
    with pytest.raises(PointInTimeError, match=r"^source 'transactions' state is complete only from "):
        state.query("quiet1", T0 + timedelta(seconds=30))  # its events may be gone: no silent answer


def test_the_sweep_is_spread_over_the_ingests(monkeypatch: pytest.MonkeyPatch) -> None:
    """No single ingest expires every quiet key: each checks at most about one key (a pass over all of them takes as
    many accepted events as there are keys), and the pass still ends with every quiet key expired and forgotten."""
    from fdag._stores import memory

    monkeypatch.setattr(memory, "_SWEEP_MIN", 256)
    source = make_source(lateness="0s")
    state = MemoryStore().window_state(source, [make_spec(source, "count", "1m")], VALUES)
    state.ingest([event(f"q{k}", f"quiet{k}", 0) for k in range(2_000)])
    checked: list[int] = []
    real = memory.MemoryEvents._evict

    def counted(self: memory.MemoryEvents, events: Any, horizon: int, minimum: int) -> None:
        checked[-1] += 1
        real(self, events, horizon, minimum)

    monkeypatch.setattr(memory.MemoryEvents, "_evict", counted)
    for i in range(2_500):
        checked.append(0)
        state.ingest([event(i, "busy", 2 + i / 100_000)])
    assert max(checked) <= 2 and sum(checked) >= 2_000
    assert list(state._keys) == ["busy"] and len(state._seen or ()) == state.held


# ----------------------------------------------------------------------------------------------- bad events

def test_malformed_events_raise_source_error_and_apply_nothing(new_store: Callable[[], Store]) -> None:
    source = make_source()
    state = new_store().window_state(source, [make_spec(source, "sum", "1h")], VALUES)
    good = event(1, "u", 0, 1.0)
    cases = [
        ({k: v for k, v in good.items() if k != "amount"},
         r"^source 'transactions' event 1: column 'amount' is missing in \{.*\}\. Hint: every event of "
         r"'transactions' needs its key 'user_id', timestamp 'ts', id 'txn_id' and the columns its window "
         r"functions read \(amount\)\.$"),
        ({**good, "user_id": None},
         r"^source 'transactions' event 1: column 'user_id' is null in \{.*\}\. Hint: every event needs its key, "
         r"timestamp and id; drop or repair the event\.$"),
        ({**good, "ts": None}, r"event 1: column 'ts' is null"),
        ({**good, "txn_id": None}, r"event 1: column 'txn_id' is null"),
        ({**good, "ts": "2024-03-01"},
         r"^source 'transactions' event 1: column 'ts' holds a str \('2024-03-01'\) but the type is 'datetime' in "
         r"\{.*\}\. Hint: send values of the declared type \('datetime'\) or fix the Source schema\.$"),
        ({**good, "amount": "12.5"}, r"event 1: column 'amount' holds a str \('12\.5'\) but the type is 'float"),
        ({**good, "user_id": 7}, r"event 1: column 'user_id' holds a int \(7\) but the type is 'str'"),
        ([1, 2], r"^source 'transactions' event 1: is a list, not a mapping of column to value in \[1, 2\]\. "
                 r"Hint: pass dicts"),
    ]
    for bad, message in cases:
        with pytest.raises(SourceError, match=message):
            state.ingest([event(0, "u", 0, 5.0), bad])
        assert state.watermark is None and state.held == 0  # nothing of the batch was applied
    int_keys = make_source(int)
    with pytest.raises(SourceError, match=r"column 'user_id' holds a bool \(True\) but the type is 'int'"):
        new_store().window_state(int_keys, [make_spec(int_keys, "sum", "1h")], VALUES).ingest(
            [event(1, True, 0)])
    with pytest.raises(SourceError, match=r"int 9223372036854775808 does not fit in int64"):
        new_store().window_state(int_keys, [make_spec(int_keys, "sum", "1h")], VALUES).ingest(
            [event(1, 2**63, 0)])


def test_coerced_values_reach_the_value_functions(new_store: Callable[[], Store]) -> None:
    """An int in a float column, NaN and naive datetimes arrive in canonical form, as offline."""
    source = Source("s", key="k", timestamp="ts", schema={"k": str, "ts": datetime, "x": float, "at": datetime})
    seen: list[Any] = []

    def x(x: float) -> float:
        return x

    spec = make_spec(source, "count", "1h")
    spec = WindowSpec("x_count", source, x, ("x", "at"), FType(float), spec.agg, spec.over, "1h", "left", None,
                      spec.returns)
    state = new_store().window_state(source, [spec], {"__value__x": lambda e: seen.append(e) or e["x"]})
    state.ingest([{"k": "a", "ts": T0, "x": 3, "at": datetime(2024, 1, 1)},
                  {"k": "a", "ts": T0, "x": float("nan"), "at": T0}])
    assert [(e["x"], type(e["x"]), e["at"]) for e in seen] == [
        (3.0, float, datetime(2024, 1, 1, tzinfo=UTC)), (None, type(None), T0)]
    assert state.query("a", T0 + timedelta(minutes=1))[0] == [1]


def test_bootstrap_validates_and_reports(new_store: Callable[[], Store]) -> None:
    source = make_source(lateness="0s")
    state = new_store().window_state(source, [make_spec(source, "sum", "1h")], VALUES)
    rows = [event(1, "u", 0, 1.0), event(2, "u", 120, 2.0), event(1, "u", 121, 50.0), event(3, "v", 110, 4.0)]
    frame = pl.DataFrame(rows, schema={c: t.polars for c, t in source.schema.items()})
    report = state.bootstrap(frame, {"__value__amount": frame["amount"]})
    assert report == IngestReport(accepted=2, duplicates=1, too_late=1)
    assert state.query("u", T0 + timedelta(minutes=121)) == ([2.0], T0 + timedelta(minutes=120))
    assert state.bootstrap(frame.head(2)) == IngestReport(accepted=0, duplicates=1, too_late=1)
    with pytest.raises(SourceError, match=r"^source 'transactions' history row 1: column 'user_id' is null\. Hint:"):
        state.bootstrap(frame.with_columns(pl.when(pl.int_range(4) == 1).then(None)
                                           .otherwise(pl.col("user_id")).alias("user_id")))
    with pytest.raises(SourceError, match=r"column 'ts' has dtype String in the history but the schema says datetime"):
        state.bootstrap(frame.with_columns(pl.col("ts").cast(pl.String)))
    with pytest.raises(SourceError, match=r"column 'txn_id' is missing from the history \(it has: "):
        state.bootstrap(frame.drop("txn_id"))
    with pytest.raises(SourceError, match=r"event 0: column 'amount' holds a str"):
        state.bootstrap(frame.with_columns(pl.col("amount").cast(pl.String)))


# ---------------------------------------------------------------------------------------------------- threads

def test_threads_ingesting_and_querying_agree_with_serial() -> None:
    source = make_source()
    specs = [make_spec(source, agg, over) for agg in ("sum", "count", "max", "std", "last") for over in OVERS]
    rng = random.Random(3)
    events = [event(i, f"k{rng.randrange(5)}", rng.uniform(0, 300), rng.uniform(-5, 5)) for i in range(6000)]
    events += events[:300]  # duplicates, racing with their originals
    serial = MemoryStore().window_state(source, specs, VALUES)
    serial.ingest(events)
    shared = MemoryStore().window_state(source, specs, VALUES)
    chunks = [events[i::8] for i in range(8)]
    failures: list[BaseException] = []

    def work(chunk: list[dict[str, Any]]) -> None:
        try:
            for start in range(0, len(chunk), 50):
                shared.ingest(chunk[start:start + 50])
                shared.query(chunk[start]["user_id"], T0 + timedelta(minutes=150))
        except BaseException as exc:
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(chunk,)) for chunk in chunks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    for key in (f"k{i}" for i in range(5)):
        for as_of in (T0 + timedelta(minutes=m) for m in (60, 200, 301)):
            got, want = shared.query(key, as_of), serial.query(key, as_of)
            assert got[1] == want[1]
            for a, b in zip(got[0], want[0], strict=True):
                assert_same(a, b, key)


def test_both_stores_implement_the_protocols(new_store: Callable[[], Store]) -> None:
    store = new_store()
    source = make_source()
    assert isinstance(store, Store)
    assert isinstance(store.window_state(source, [make_spec(source, "sum", "1h")], VALUES), WindowState)
    with pytest.raises(ValueError, match=r"no per-event value function for \['__value__amount'\]"):
        store.window_state(source, [make_spec(source, "sum", "1h")], {})
