"""Offline windows on dense keys: every aggregation, fdag's engine vs the best hand-written Polars (or DuckDB).

Workload (deterministic): N events for 20 string keys over 4 days (~1,000 events per key per hour, so a 1h
window holds ~1,000 events and a 7d window the key's whole history, up to N / 20), unsorted, ~1% duplicate
ids, values with ~2% nulls; N / 10 requests for the same keys at random instants. Every contender deduplicates
by id (first in frame order) and gives each request the exact window ``[as_of - w, as_of)``.

The hand-written baselines share one preparation (dedup by ``is_first_distinct``, dense key codes, one int64 code
``key * span + µs``, one sort) and then use the fastest exact Polars for the aggregation: cumulative sums and
``join_asof`` for count/sum/mean, ``rolling_*_by(closed="left")`` over events and requests together for
min/max/std/var, ``join_asof`` for first/last, shifted lists and ``list.tail`` for last_n; Polars has no rolling
distinct count, so distinct_count's baseline is DuckDB's ``count(DISTINCT ...) OVER (RANGE ...)``.

Contenders run interleaved (alternating order) in every round; a ratio is the median of the per-round ratios::

    .venv/bin/python benchmarks/bench_windows_dense.py --events 2000000 --repeat 5
    .venv/bin/python benchmarks/bench_windows_dense.py --growth 1000000,2000000,4000000,8000000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import polars as pl
from bench_windows_offline import interleaved, make_spec

from fdag._frame.point_in_time import window_frame
from fdag._values.durations import parse_duration

AGGREGATIONS = ("count", "sum", "mean", "min", "max", "std", "var", "first", "last", "distinct_count", "last_n(5)")
WINDOWS = ("1h", "7d")
KEYS = 20
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_US = 4 * 86_400 * 10**6
LONGEST_US = 7 * 86_400 * 10**6
TAIL = 5


def workload(n: int, m: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Unsorted events (txn_id, user_id, ts, amount, __value__amount) and requests (__row, user_id, as_of)."""
    rng = np.random.default_rng(seed)
    origin = int(START.timestamp() * 1e6)
    ids = np.arange(n, dtype=np.int64)
    dup = rng.random(n) < 0.01
    ids[dup] = rng.integers(0, n, int(dup.sum()))
    # Whole cents: distinct_count sees repeats; 2% nulls are skipped by every aggregation.
    amounts = np.round(rng.lognormal(3, 1, n), 2)
    events = pl.DataFrame(
        {
            "txn_id": ids,
            "user_id": pl.Series(rng.integers(0, KEYS, n)),
            "ts": pl.Series(origin + rng.integers(0, SPAN_US, n)).cast(pl.Datetime("us", "UTC")),
            "amount": pl.Series(amounts).set(pl.Series(rng.random(n) < 0.02), None),
        }
    ).with_columns(pl.format("u{}", "user_id").alias("user_id"), pl.col("amount").alias("__value__amount"))
    requests = pl.DataFrame(
        {
            "__row": np.arange(m, dtype=np.uint32),
            "user_id": pl.Series(rng.integers(0, KEYS, m)),
            "as_of": pl.Series(origin + rng.integers(0, SPAN_US, m)).cast(pl.Datetime("us", "UTC")),
        }
    ).with_columns(pl.format("u{}", "user_id").alias("user_id"))
    return events, requests


def run_fdag(agg: str, over: str, events: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """fdag's engine, one spec, collected; the value column is called ``value``."""
    spec = make_spec(agg, over)
    return window_frame([spec], events.lazy(), requests.lazy()).collect().rename({spec.node: "value"})


def prepared(events: pl.DataFrame, requests: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The hand-written common part: events deduplicated, coded ``c`` and sorted by (c, id); requests coded ``q``."""
    keys = requests.select(pl.col("user_id").unique()).with_row_index("k")
    span = SPAN_US + LONGEST_US + 1
    origin = int(START.timestamp() * 1e6) - LONGEST_US
    ev = (
        events.filter(pl.col("txn_id").is_first_distinct())
        .join(keys, on="user_id")
        .select((pl.col("k").cast(pl.Int64) * span + pl.col("ts").dt.epoch("us") - origin).alias("c"), "txn_id",
                pl.col("amount").alias("v"))
        .sort("c", "txn_id")
    )
    rq = requests.join(keys, on="user_id", how="left").select(
        "__row", (pl.col("k").cast(pl.Int64) * span + pl.col("as_of").dt.epoch("us") - origin).alias("q")
    )
    return ev, rq


def _asof(rq: pl.DataFrame, ev: pl.DataFrame, at: pl.Expr, strategy: str, exact: bool) -> pl.DataFrame:
    left = rq.with_columns(at.alias("at")).sort("at")
    return left.join_asof(ev, left_on="at", right_on="c", strategy=strategy, allow_exact_matches=exact)  # type: ignore[arg-type]


def polars_prefix(agg: str, micros: int, ev: pl.DataFrame, rq: pl.DataFrame) -> pl.DataFrame:
    """count/sum/mean: cumulative sums at the last event before each bound (``join_asof``), differenced."""
    cum = ev.select("c", pl.col("v").fill_null(0.0).cum_sum().alias("s"),
                    pl.col("v").is_not_null().cum_sum().alias("n")).set_sorted("c")
    hi = _asof(rq, cum, pl.col("q"), "backward", False).sort("__row")
    lo = _asof(rq, cum, pl.col("q") - micros, "backward", False).sort("__row")
    total = hi["s"].fill_null(0.0) - lo["s"].fill_null(0.0)
    count = hi["n"].fill_null(0) - lo["n"].fill_null(0)
    value = {"count": count, "sum": total, "mean": total / count.cast(pl.Float64).replace(0, None)}[agg]
    return pl.DataFrame({"__row": hi["__row"], "value": value})


def polars_rolling(agg: str, micros: int, ev: pl.DataFrame, rq: pl.DataFrame) -> pl.DataFrame:
    """min/max/std/var: ``rolling_*_by(closed="left")`` over events and requests (null values) sorted together."""
    both = pl.concat([ev.select("c", "v", pl.lit(None, pl.UInt32).alias("__row")),
                      rq.select(pl.col("q").alias("c"), pl.lit(None, pl.Float64).alias("v"), "__row")])
    rolling = getattr(pl.col("v"), f"rolling_{agg}_by")
    return (
        both.sort("c")
        .with_columns(rolling("c", f"{micros}i", closed="left").alias("value"))
        .filter(pl.col("__row").is_not_null())
        .select("__row", "value")
    )


def polars_ends(agg: str, micros: int, ev: pl.DataFrame, rq: pl.DataFrame) -> pl.DataFrame:
    """first/last: the first non-null event at or after ``q - w`` (last: before ``q``), kept if inside."""
    present = ev.filter(pl.col("v").is_not_null()).select("c", pl.col("c").alias("at_event"), "v").set_sorted("c")
    if agg == "first":
        found = _asof(rq, present, pl.col("q") - micros, "forward", True)
        inside = pl.col("at_event") < pl.col("q")
    else:
        found = _asof(rq, present, pl.col("q"), "backward", False)
        inside = pl.col("at_event") >= pl.col("q") - micros
    return found.select("__row", pl.when(inside).then(pl.col("v")).alias("value"))


def polars_tail(agg: str, micros: int, ev: pl.DataFrame, rq: pl.DataFrame) -> pl.DataFrame:
    """last_n: each non-null event's list of the last n values up to it, read at the last event before ``q``
    and cut to the events inside the window (a difference of event ranks found by ``join_asof``)."""
    present = ev.filter(pl.col("v").is_not_null())
    lists = present.select(
        "c", pl.int_range(1, pl.len() + 1).alias("rank"),
        pl.concat_list([pl.col("v").shift(TAIL - 1 - i) for i in range(TAIL)]).alias("tail"),
    ).set_sorted("c")
    hi = _asof(rq, lists, pl.col("q"), "backward", False).sort("__row")
    lo = _asof(rq, lists.select("c", "rank"), pl.col("q") - micros, "backward", False).sort("__row")
    inside = (hi["rank"].fill_null(0) - lo["rank"].fill_null(0)).clip(upper_bound=TAIL)
    value = hi.select(pl.col("tail").fill_null([]).list.tail(inside)).to_series()
    return pl.DataFrame({"__row": hi["__row"], "value": value})


def duckdb_distinct(agg: str, micros: int, ev: pl.DataFrame, rq: pl.DataFrame) -> pl.DataFrame:
    """distinct_count: DuckDB's ``count(DISTINCT v) OVER (ORDER BY c RANGE BETWEEN w PRECEDING AND 1 PRECEDING)``
    over events and requests together (Polars has no rolling distinct count)."""
    con = duckdb.connect()
    both = pl.concat([ev.select("c", "v", pl.lit(None, pl.UInt32).alias("__row")),
                      rq.select(pl.col("q").alias("c"), pl.lit(None, pl.Float64).alias("v"), "__row")])
    con.register("stream", both.to_arrow())
    sql = f"""
        SELECT __row, value FROM (
            SELECT __row, count(DISTINCT v) OVER (ORDER BY c RANGE BETWEEN {micros} PRECEDING AND 1 PRECEDING)
                AS value FROM stream)
        WHERE __row IS NOT NULL
    """
    return con.sql(sql).pl()


BASELINES: dict[str, Callable[[str, int, pl.DataFrame, pl.DataFrame], pl.DataFrame]] = {
    **dict.fromkeys(("count", "sum", "mean"), polars_prefix),
    **dict.fromkeys(("min", "max", "std", "var"), polars_rolling),
    **dict.fromkeys(("first", "last"), polars_ends),
    "last_n(5)": polars_tail,
    "distinct_count": duckdb_distinct,
}


def run_baseline(agg: str, over: str, events: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """The hand-written contender for ``agg``, from the raw frames (its preparation included)."""
    ev, rq = prepared(events, requests)
    micros = parse_duration(over) // timedelta(microseconds=1)
    return BASELINES[agg](agg.split("(")[0], micros, ev, rq)


def agree(a: pl.DataFrame, b: pl.DataFrame) -> bool:
    """Same value per ``__row``: ints and lists exact, floats within 1e-6 relative / 1e-6 absolute."""
    joined = a.join(b.with_columns(pl.col("__row").cast(a["__row"].dtype)), on="__row", suffix="_b")
    if len(joined) != len(a) or len(b) != len(a):
        return False
    x, y = joined["value"], joined["value_b"]
    if x.dtype == pl.List(pl.Float64):
        return bool((x.list.len() == y.list.len()).all()) and agree(
            pl.DataFrame({"__row": np.arange(int(x.list.len().sum())), "value": x.explode()}),
            pl.DataFrame({"__row": np.arange(int(y.list.len().sum())), "value": y.explode()}),
        )
    xs, ys = x.cast(pl.Float64).to_numpy(), y.cast(pl.Float64).to_numpy()
    both_null = np.isnan(xs) & np.isnan(ys)
    return bool(np.all(both_null | np.isclose(xs, ys, rtol=1e-6, atol=1e-6)))


@dataclass(frozen=True)
class Comparison:
    """fdag vs its baseline on one workload: medians, per-round ratios and whether the results agree."""

    ours: float  # median wall seconds
    theirs: float
    ratio: float  # median of the per-round wall ratios
    low: float  # smallest and largest per-round wall ratio
    high: float
    cpu_ours: float  # median CPU seconds
    cpu_theirs: float
    cpu_ratio: float  # median of the per-round CPU ratios
    agrees: bool


def compare(agg: str, over: str, events: pl.DataFrame, requests: pl.DataFrame, repeat: int) -> Comparison:
    """Run fdag and the baseline interleaved ``repeat`` times."""
    wall, cpu, (got, want) = interleaved(
        [lambda: run_fdag(agg, over, events, requests), lambda: run_baseline(agg, over, events, requests)], repeat
    )
    ratios = [x / y for x, y in zip(*wall, strict=True)]
    cpu_ratios = [x / y for x, y in zip(*cpu, strict=True)]
    return Comparison(statistics.median(wall[0]), statistics.median(wall[1]), statistics.median(ratios),
                      min(ratios), max(ratios), statistics.median(cpu[0]), statistics.median(cpu[1]),
                      statistics.median(cpu_ratios), agree(got, want))


def main() -> None:
    """Parse arguments, print Markdown tables: per aggregation and window, then the growth curve."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--aggs", default=",".join(AGGREGATIONS))
    parser.add_argument("--windows", default=",".join(WINDOWS))
    parser.add_argument("--growth", default="", help="comma-separated event counts: the growth curve instead")
    args = parser.parse_args()
    aggs, windows = args.aggs.split(","), args.windows.split(",")
    print(f"command: {' '.join([sys.executable, *sys.argv])}\n")
    if not args.growth:
        events, requests = workload(args.events, args.events // 10)
        print(f"{args.events:,} events x {args.events // 10:,} requests, {KEYS} keys over 4 days, "
              f"interleaved rounds: {args.repeat}\n")
        print("| aggregation | window | fdag s | baseline s | wall ratio (median, range) | CPU ratio | agrees |")
        print("|---|---|---|---|---|---|---|")
        for agg in aggs:
            for over in windows:
                c = compare(agg, over, events, requests, args.repeat)
                print(f"| {agg} | {over} | {c.ours:.3f} | {c.theirs:.3f} | {c.ratio:.2f}x ({c.low:.2f}-{c.high:.2f}) "
                      f"| {c.cpu_ratio:.2f}x | {c.agrees} |", flush=True)
        return
    sizes = [int(s) for s in args.growth.split(",")]
    print(f"growth: each contender's median time at each size over its own at {sizes[0]:,} events (CPU time in "
          f"brackets); interleaved rounds: {args.repeat}\n")
    print("| aggregation | window | " + " | ".join(f"{s / 1e6:g}M fdag / base" for s in sizes)
          + " | fdag growth / baseline growth (CPU) |")
    print("|---|---|" + "---|" * (len(sizes) + 1))
    frames = {size: workload(size, size // 10) for size in sizes}
    for agg in aggs:
        for over in windows:
            runs = [compare(agg, over, *frames[size], args.repeat) for size in sizes]
            first, last = runs[0], runs[-1]
            cells = [f"{c.ours / first.ours:.2f} / {c.theirs / first.theirs:.2f}" for c in runs]
            growth = (last.ours / first.ours) / (last.theirs / first.theirs)
            cpu_growth = (last.cpu_ours / first.cpu_ours) / (last.cpu_theirs / first.cpu_theirs)
            print(f"| {agg} | {over} | " + " | ".join(cells) + f" | {growth:.2f}x ({cpu_growth:.2f}x) |", flush=True)


if __name__ == "__main__":
    main()
