"""The offline point-in-time window engine against a DuckDB SQL oracle, a brute-force oracle and pinned cases."""

from __future__ import annotations

import math
import typing
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import duckdb
import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._frame.point_in_time import window_frame
from fdag._values.durations import parse_duration
from fdag._values.types import ftype_of

T0 = datetime(2024, 1, 1, tzinfo=UTC)
ALL_AGGS = ("count", "sum", "mean", "min", "max", "std", "var", "first", "last", "distinct_count", "last_n(3)")


def amount(amount: float) -> float:
    return amount


def units(units: int) -> int:
    return units


def merchant(merchant: str) -> str:
    return merchant


def source(key: type = str, with_id: bool = True) -> Source:
    """The test source: key ``user_id`` of type ``key``, timestamp ``ts``, id ``txn_id`` unless ``with_id=False``."""
    schema = {"txn_id": str, "user_id": key, "ts": datetime, "amount": float, "units": int, "merchant": str}
    return Source("txns", key="user_id", timestamp="ts", id="txn_id" if with_id else None, schema=schema)


def spec(
    src: Source, func: Callable[..., Any], agg: str, over: str, closed: str = "left", default: Any = None
) -> WindowSpec:
    """A resolved window spec, named ``<function>_<agg>_<over>_<closed>``."""
    aggregation = parse_aggregation(agg)
    value_type = ftype_of(typing.get_type_hints(func)["return"])
    return WindowSpec(
        node=f"{func.__name__}_{aggregation.label}_{over}_{closed}",
        source=src,
        function=func,
        params=(func.__name__,),
        value_type=value_type,
        agg=aggregation,
        over=parse_duration(over),
        over_label=over,
        closed=closed,  # type: ignore[arg-type]
        default=default,
        returns=aggregation.result_type(value_type),
    )


def events_frame(rows: list[tuple], key_dtype: pl.DataType = pl.String) -> pl.DataFrame:
    """Events from (txn_id, user_id, ts, amount, units, merchant) tuples, with the per-event value columns."""
    frame = pl.DataFrame(
        rows,
        schema={
            "txn_id": pl.String,
            "user_id": key_dtype,
            "ts": pl.Datetime("us", "UTC"),
            "amount": pl.Float64,
            "units": pl.Int64,
            "merchant": pl.String,
        },
        orient="row",
    )
    return frame.with_columns(
        pl.col("amount").alias("__value__amount"),
        pl.col("units").alias("__value__units"),
        pl.col("merchant").alias("__value__merchant"),
    )


def requests_frame(rows: list[tuple], key_dtype: pl.DataType = pl.String) -> pl.DataFrame:
    """Requests from (user_id, as_of) tuples, numbered by ``__row``."""
    frame = pl.DataFrame(rows, schema={"user_id": key_dtype, "as_of": pl.Datetime("us", "UTC")}, orient="row")
    return frame.with_row_index("__row")


def run(specs: list[WindowSpec], events: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """The engine's result in request order."""
    return window_frame(specs, events.lazy(), requests.lazy()).collect().sort("__row")


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


# ---------------------------------------------------------------- oracles


def duckdb_oracle(specs: list[WindowSpec], events: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """Each window as an explicit range predicate in SQL; dedup by id in frame order; first/last by (ts, id)."""
    src = specs[0].source
    con = duckdb.connect()
    ev = events.with_row_index("frame_order")
    con.register("ev", ev.to_arrow())
    con.register("rq", requests.to_arrow())
    dedup = (
        f"QUALIFY {src.id} IS NULL OR ROW_NUMBER() OVER (PARTITION BY {src.id} ORDER BY frame_order) = 1"
        if src.id
        else ""
    )
    con.execute(f"CREATE TABLE d AS SELECT * FROM ev {dedup}")
    tie = src.id or "frame_order"
    out = requests.select("__row")
    for s in specs:
        v = f"e.{s.value_column}"
        upper = "<" if s.closed == "left" else "<="
        micros = s.over // timedelta(microseconds=1)
        agg = {
            "count": f"count({v})",
            "sum": f"sum({v})",
            "mean": f"avg({v})",
            "min": f"min({v})",
            "max": f"max({v})",
            "std": f"stddev_samp({v})",
            "var": f"var_samp({v})",
            "first": f"first({v} ORDER BY e.ts, e.{tie}) FILTER (WHERE {v} IS NOT NULL)",
            "last": f"last({v} ORDER BY e.ts, e.{tie}) FILTER (WHERE {v} IS NOT NULL)",
            "distinct_count": f"count(DISTINCT {v})",
            "last_n": f"list_reverse(list({v} ORDER BY e.ts DESC, e.{tie} DESC) FILTER (WHERE {v} IS NOT NULL)"
            f"[1:{s.agg.n}])",
        }[s.agg.name]
        sql = f"""
            SELECT r.__row, {agg} AS value, count({v}) AS n FROM rq r LEFT JOIN d e
              ON e.user_id = r.user_id AND e.ts >= r.as_of - to_microseconds({micros}::BIGINT)
             AND e.ts {upper} r.as_of
            GROUP BY r.__row"""
        got = con.sql(sql).pl()
        assert isinstance(got, pl.DataFrame)
        got = got.with_columns(pl.col("__row").cast(out["__row"].dtype))
        empty = pl.lit(s.empty_value, dtype=s.returns.polars)
        value = pl.when(pl.col("n") > 0).then(pl.col("value").cast(s.returns.polars)).otherwise(empty)
        got = got.select("__row", value.alias(s.node))
        out = out.join(got, on="__row", how="left")
    return out.sort("__row")


def brute_oracle(specs: list[WindowSpec], events: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """Pure Python: dedup by id in frame order, then filter every window and aggregate exactly (Fractions)."""
    src = specs[0].source
    seen: set[Any] = set()
    kept = []
    for order, row in enumerate(events.iter_rows(named=True)):
        ident = row[src.id] if src.id else None
        if ident is not None and ident in seen:
            continue
        seen.add(ident)
        kept.append((row, order))
    columns: dict[str, list[Any]] = {"__row": requests["__row"].to_list()}
    for s in specs:
        values = []
        for request in requests.iter_rows(named=True):
            start, end = request["as_of"] - s.over, request["as_of"]
            window = sorted(
                (
                    (row["ts"], row[src.id] if src.id else order, row[s.value_column])
                    for row, order in kept
                    if row["user_id"] == request["user_id"]
                    and start <= row["ts"]
                    and (row["ts"] < end or (s.closed == "both" and row["ts"] == end))
                    and row[s.value_column] is not None
                ),
                key=lambda item: (item[0], item[1]),
            )
            values.append(exact_aggregate(s, [item[2] for item in window]))
        columns[s.node] = values
    return pl.DataFrame(columns, schema={"__row": requests["__row"].dtype, **{s.node: s.returns.polars for s in specs}})


def exact_aggregate(s: WindowSpec, xs: list[Any]) -> Any:
    """The exact value of one window (nulls already dropped, ordered by (ts, id))."""
    if not xs:
        return s.empty_value
    name = s.agg.name
    if name == "count":
        return len(xs)
    if name == "distinct_count":
        return len(set(xs))
    if name in ("min", "max"):
        return min(xs) if name == "min" else max(xs)
    if name in ("first", "last"):
        return xs[0] if name == "first" else xs[-1]
    if name == "last_n":
        return xs[-s.agg.n :]
    exact = [Fraction(x) for x in xs]
    total = sum(exact, Fraction(0))
    if name == "sum":
        return int(total) if isinstance(xs[0], int) else float(total)
    mean = total / len(xs)
    if name == "mean":
        return float(mean)
    if len(xs) < 2:
        return None
    variance = sum(((x - mean) ** 2 for x in exact), Fraction(0)) / (len(xs) - 1)
    return float(variance) if name == "var" else math.sqrt(variance)


def close(a: Any, b: Any) -> bool:
    """Ints, strings, nulls exact; floats within 1e-6 relative or 1e-6 absolute; lists item by item."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-6)
    return a == b


def assert_same(got: pl.DataFrame, want: pl.DataFrame) -> None:
    """Value-by-value comparison, reporting the first mismatch of each column."""
    assert got.columns == want.columns
    assert got.schema == want.schema
    assert got["__row"].to_list() == want["__row"].to_list()
    for column in got.columns[1:]:
        for row, a, b in zip(got["__row"], got[column], want[column], strict=True):
            a = a.to_list() if isinstance(a, pl.Series) else a
            b = b.to_list() if isinstance(b, pl.Series) else b
            assert close(a, b), f"{column} row {row}: engine {a!r} != oracle {b!r}"


# ---------------------------------------------------------------- pinned cases


def test_window_edges_ties_duplicates_nulls() -> None:
    src = source()
    events = events_frame(
        [
            ("a", "u1", at(0), 1.0, 1, "m1"),  # exactly at as_of - 1h: inside
            ("z", "u1", at(-0.5), 50.0, 50, "m9"),  # before the window
            ("b", "u1", at(30), 2.0, 2, "m2"),
            ("c", "u1", at(60), 4.0, 4, "m3"),  # exactly at as_of: only closed="both"
            ("c", "u1", at(40), 100.0, 100, "m4"),  # duplicate id: dropped (second in frame order)
            ("e", "u1", at(30), None, None, None),  # null values: skipped
            ("d", "u1", at(30), 8.0, 8, "m2"),  # tie at 00:30 with "b": ordered after it by id
        ]
    )
    requests = requests_frame([("u1", at(60)), ("u2", at(60))])
    aggs = ["count", "sum", "mean", "min", "max", "first", "last", "distinct_count", "last_n(2)", "var"]
    specs = [spec(src, amount, a, "1h") for a in aggs]
    specs += [spec(src, merchant, "distinct_count", "1h"), spec(src, units, "sum", "1h", closed="both")]
    specs += [spec(src, amount, "last", "60m", default=-1.0), spec(src, amount, "count", "60m", default=7)]
    got = run(specs, events, requests).drop("__row")
    assert got.drop("amount_var_1h_left").row(0) == (3, 11.0, 11 / 3, 1.0, 8.0, 1.0, 8.0, 3, [2.0, 8.0], 2, 15, 8.0, 3)
    assert got["amount_var_1h_left"][0] == pytest.approx(43 / 3, rel=1e-12)
    assert got.row(1) == (0, 0.0, None, None, None, None, None, 0, [], None, 0, 0, -1.0, 7)
    assert got.schema["units_sum_1h_both"] == pl.Int64
    assert got.schema["amount_last_2_1h_left"] == pl.List(pl.Float64)


def test_int_keys_without_ids_break_ties_by_frame_order() -> None:
    src = source(key=int, with_id=False)
    events = events_frame(
        [("x", 7, at(10), 3.0, 3, "a"), ("x", 7, at(10), 1.0, 1, "b"), ("x", 8, at(10), 9.0, 9, "c")],
        key_dtype=pl.Int64,
    )
    requests = requests_frame([(7, at(11)), (8, at(10)), (9, at(11))], key_dtype=pl.Int64)
    specs = [spec(src, amount, a, "5m") for a in ("first", "last", "count", "sum")]
    got = run(specs, events, requests).drop("__row")
    assert got.rows() == [(3.0, 1.0, 2, 4.0), (None, None, 0, 0.0), (None, None, 0, 0.0)]


def test_requests_with_duplicates_unsorted_and_null_as_of() -> None:
    src = source()
    events = events_frame([("a", "u1", at(5), 1.0, 1, "a"), ("b", "u1", at(1), 2.0, 2, "b")])
    requests = requests_frame([("u1", at(6)), (None, at(6)), ("u1", None), ("u1", at(2)), ("u1", at(6))])
    got = run([spec(src, amount, "sum", "10m")], events, requests)
    assert got["amount_sum_10m_left"].to_list() == [3.0, 0.0, None, 2.0, 3.0]


def test_no_events_at_all() -> None:
    src = source()
    events = events_frame([])
    requests = requests_frame([("u1", at(6))])
    specs = [spec(src, amount, a, "1h") for a in ALL_AGGS]
    assert_same(run(specs, events, requests), brute_oracle(specs, events, requests))


# ---------------------------------------------------------------- oracles on random data


def random_history(seed: int, n: int, m: int, keys: int, key_dtype: pl.DataType) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Unsorted events on a coarse time grid (many ties and exact window edges), ~5% duplicate ids and nulls."""
    rng = np.random.default_rng(seed)
    minutes = rng.integers(0, 600, n) * 5
    ids = np.array([f"t{i}" for i in range(n)], dtype=object)
    dup = rng.random(n) < 0.05
    ids[dup] = ids[rng.integers(0, n, dup.sum())]
    user = rng.integers(0, keys, n)
    amounts = np.round(rng.normal(10, 5, n), 2)
    rows = [
        (
            ids[i],
            int(user[i]) if key_dtype == pl.Int64 else f"u{user[i]}",
            at(int(minutes[i])),
            None if rng.random() < 0.05 else float(amounts[i]),
            None if rng.random() < 0.05 else int(amounts[i] * 100),
            None if rng.random() < 0.05 else f"m{rng.integers(0, 6)}",
        )
        for i in range(n)
    ]
    req_keys = rng.integers(0, keys + 2, m)
    req = [
        (int(req_keys[j]) if key_dtype == pl.Int64 else f"u{req_keys[j]}", at(int(rng.integers(0, 700)) * 5))
        for j in range(m)
    ]
    return events_frame(rows, key_dtype), requests_frame(req, key_dtype)


@pytest.mark.parametrize("key_dtype", [pl.String, pl.Int64])
@pytest.mark.parametrize("with_id", [True, False])
def test_against_duckdb(key_dtype: pl.DataType, with_id: bool) -> None:
    src = source(key=str if key_dtype == pl.String else int, with_id=with_id)
    events, requests = random_history(1, 4000, 800, 15, key_dtype)
    specs = [
        spec(src, func, agg, over, closed)
        for func in (amount, units)
        for agg in ALL_AGGS
        for over, closed in (("5m", "left"), ("1h", "both"), ("10h", "left"))
    ]
    specs += [spec(src, merchant, a, "2h") for a in ("min", "max", "first", "last", "distinct_count", "last_n(3)")]
    assert_same(run(specs, events, requests), duckdb_oracle(specs, events, requests))


# ---------------------------------------------------------------- properties


@st.composite
def histories(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Small histories whose timestamps land on window edges and tie often."""
    n = draw(st.integers(0, 25))
    grid = st.integers(0, 12).map(lambda k: at(k * 5))
    rows = [
        (
            f"t{draw(st.integers(0, 20))}",
            draw(st.sampled_from(["u1", "u2"])),
            draw(grid),
            draw(st.none() | st.sampled_from([0.0, 1.5, -2.0, 1e6, 3.25])),
            draw(st.none() | st.integers(-5, 5)),
            draw(st.none() | st.sampled_from(["a", "b", "c"])),
        )
        for _ in range(n)
    ]
    m = draw(st.integers(1, 6))
    req = [(draw(st.sampled_from(["u1", "u2", "u3"])), draw(grid)) for _ in range(m)]
    return events_frame(rows), requests_frame(req)


PROPERTY_SPECS = [
    spec(source(), func, agg, over, closed)
    for func in (amount, units)
    for agg in ALL_AGGS
    for over, closed in (("5m", "left"), ("10m", "both"))
] + [spec(source(), merchant, a, "15m") for a in ("min", "max", "distinct_count", "last_n(3)", "first", "last")]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories())
def test_property_against_brute_force(history: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    events, requests = history
    assert_same(run(PROPERTY_SPECS, events, requests), brute_oracle(PROPERTY_SPECS, events, requests))


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(-1e12, 1e12, allow_nan=False), min_size=1, max_size=40),
    st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=10),
)
def test_property_sums_stay_exact_after_huge_history(old: list[float], recent: list[float]) -> None:
    src = source()
    rows = [(f"o{i}", "u1", at(i), x, 0, "a") for i, x in enumerate(old)]
    rows += [(f"r{i}", "u1", at(10_000 + i), x, 0, "a") for i, x in enumerate(recent)]
    requests = requests_frame([("u1", at(10_000 + len(recent)))])
    specs = [spec(src, amount, a, "1h") for a in ("sum", "mean", "std", "var")]
    events = events_frame(rows)
    assert_same(run(specs, events, requests), brute_oracle(specs, events, requests))


# ---------------------------------------------------------------- accuracy


def test_drift_adversarial_prefix_sums_stay_within_1e6() -> None:
    """Huge old values (both signs) across many keys, tiny values in the window: the prefix difference must hold."""
    rng = np.random.default_rng(7)
    n_old, n_new, keys = 200_000, 20_000, 50
    old = rng.choice([-1.0, 1.0], n_old) * 10.0 ** rng.uniform(8, 15, n_old)
    new = rng.uniform(-1e-3, 1e-3, n_new)
    values = np.concatenate([old, new])
    times = np.concatenate([rng.integers(0, 10**6, n_old), 10**6 + 3600 + rng.integers(0, 600, n_new)])
    users = rng.integers(0, keys, n_old + n_new)
    events = pl.DataFrame(
        {
            "txn_id": [f"t{i}" for i in range(n_old + n_new)],
            "user_id": [f"u{u}" for u in users],
            "ts": pl.Series(times * 1_000_000).cast(pl.Datetime("us", "UTC")),
            "__value__amount": values,
        }
    ).sample(fraction=1.0, shuffle=True, seed=3)
    as_of = 10**6 + 3600 + 601
    requests = pl.DataFrame(
        {"__row": range(keys), "user_id": [f"u{u}" for u in range(keys)], "as_of": [as_of * 1_000_000] * keys}
    ).with_columns(pl.col("as_of").cast(pl.Datetime("us", "UTC")))
    src = source()
    specs = [spec(src, amount, a, "15m") for a in ("sum", "mean", "var")]
    got = run(specs, events, requests)
    window = times >= as_of - 900
    for u in range(keys):
        xs = values[window & (users == u)]
        exact = sum((Fraction(float(x)) for x in xs), Fraction(0))
        assert math.isclose(got["amount_sum_15m_left"][u], float(exact), rel_tol=1e-6, abs_tol=1e-6)
        assert math.isclose(got["amount_mean_15m_left"][u], float(exact / len(xs)), rel_tol=1e-6, abs_tol=1e-6)
        assert math.isclose(got["amount_var_15m_left"][u], float(np.var(xs, ddof=1)), rel_tol=1e-6)
    # the naive global prefix difference is demonstrably wrong on this data
    order = np.lexsort((times, users))
    naive = np.concatenate([[0.0], np.cumsum(values[order])])
    lo = np.searchsorted(users[order] * 10**8 + times[order], 0 * 10**8 + as_of - 900)
    hi = np.searchsorted(users[order] * 10**8 + times[order], 0 * 10**8 + as_of)
    exact0 = float(sum((Fraction(float(x)) for x in values[window & (users == 0)]), Fraction(0)))
    assert not math.isclose(naive[hi] - naive[lo], exact0, rel_tol=1e-6, abs_tol=1e-6)


def test_variance_with_large_offset_is_accurate() -> None:
    """var/std of values 1e9 + tiny noise, after a history of other magnitudes."""
    rng = np.random.default_rng(11)
    xs = 1e9 + rng.normal(0, 1e-3, 500)
    rows = [(f"o{i}", "u1", at(i), float(rng.normal(0, 1e12)), 0, "a") for i in range(100)]
    rows += [(f"n{i}", "u1", at(1000 + i / 100), float(x), 0, "a") for i, x in enumerate(xs)]
    requests = requests_frame([("u1", at(1010))])
    src = source()
    specs = [spec(src, amount, a, "1h") for a in ("var", "std")]
    got = run(specs, events_frame(rows), requests)
    exact_mean = sum(Fraction(float(x)) for x in xs) / len(xs)
    exact_var = float(sum((Fraction(float(x)) - exact_mean) ** 2 for x in xs) / (len(xs) - 1))
    assert math.isclose(got["amount_var_1h_left"][0], exact_var, rel_tol=1e-6)
    assert math.isclose(got["amount_std_1h_left"][0], math.sqrt(exact_var), rel_tol=1e-6)


def test_integer_sums_are_exact_near_int64_limits() -> None:
    src = source()
    big = 2**61  # four of them overflow int64: the cumulative sum wraps, the window sum must not
    rows = [(f"t{i}", "u1", at(i), 0.0, big, "a") for i in range(4)] + [("x", "u1", at(100), 0.0, 3, "a")]
    requests = requests_frame([("u1", at(101)), ("u1", at(2))])
    got = run([spec(src, units, "sum", "30m")], events_frame(rows), requests)
    assert got["units_sum_30m_left"].to_list() == [3, 2 * big]


def test_compensated_prefix_relies_on_sequential_cumsum() -> None:
    """The TwoSum recovery assumes ``np.cumsum`` adds left to right; pin that assumption."""
    values = np.random.default_rng(5).normal(0, 1e10, 100_001)
    prefix = np.cumsum(values)
    assert np.array_equal(prefix[1:], prefix[:-1] + values[1:])
