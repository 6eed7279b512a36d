"""Offline window benchmark: fdag's point-in-time engine vs hand-written Polars vs DuckDB SQL.

Workload (deterministic): N events over 30 days for ~100k string keys, unsorted, ~1% duplicate ids; M requests
(some for keys without events); windows 5m/1h/10d x (sum, count, mean) = 9 specs. Every contender deduplicates
by id (first in frame order), so all do the same work. Run::

    .venv/bin/python benchmarks/bench_windows_offline.py --events 10000000 --requests 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import duckdb
import numpy as np
import polars as pl

from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._frame.point_in_time import window_frame
from fdag._values.durations import parse_duration
from fdag._values.types import FType

WINDOWS = ("5m", "1h", "10d")
START = datetime(2024, 1, 1, tzinfo=UTC)
SPAN_US = 30 * 86_400 * 10**6
SOURCE = Source(
    "transactions",
    key="user_id",
    timestamp="ts",
    id="txn_id",
    schema={"txn_id": int, "user_id": str, "ts": datetime, "amount": float},
)


def amount(amount: float) -> float:
    """The per-event value every benchmarked window aggregates."""
    return amount


def make_spec(agg: str, over: str) -> WindowSpec:
    """A window spec over ``amount`` named ``amount_<agg>_<over>``."""
    aggregation = parse_aggregation(agg)
    return WindowSpec(
        node=f"amount_{aggregation.label}_{over}",
        source=SOURCE,
        function=amount,
        params=("amount",),
        value_type=FType(float),
        agg=aggregation,
        over=parse_duration(over),
        over_label=over,
        closed="left",
        default=None,
        returns=aggregation.result_type(FType(float)),
    )


def workload(n: int, m: int, keys: int, seed: int = 0) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Unsorted events (txn_id, user_id, ts, amount) with ~1% duplicate ids, and requests (__row, user_id, as_of)."""
    rng = np.random.default_rng(seed)
    origin = int(START.timestamp() * 1e6)
    ids = np.arange(n, dtype=np.int64)
    dup = rng.random(n) < 0.01
    ids[dup] = rng.integers(0, n, int(dup.sum()))
    events = pl.DataFrame(
        {
            "txn_id": ids,
            "user_id": pl.Series(rng.integers(0, keys, n)),
            "ts": pl.Series(origin + rng.integers(0, SPAN_US, n)).cast(pl.Datetime("us", "UTC")),
            "amount": np.round(rng.lognormal(3, 1, n), 2),
        }
    ).with_columns(pl.format("u{}", "user_id").alias("user_id"), pl.col("amount").alias("__value__amount"))
    requests = pl.DataFrame(
        {
            "__row": np.arange(m, dtype=np.uint32),
            "user_id": pl.Series(rng.integers(0, int(keys * 1.05), m)),
            "as_of": pl.Series(origin + rng.integers(0, SPAN_US, m)).cast(pl.Datetime("us", "UTC")),
        }
    ).with_columns(pl.format("u{}", "user_id").alias("user_id"))
    return events, requests


def run_fdag(specs: list[WindowSpec], events: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """fdag's engine, collected."""
    return window_frame(specs, events.lazy(), requests.lazy()).collect()


def run_polars(events: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """Best hand-written Polars: sort-based dedup, dense key codes, one global sort, cum sums, ``join_asof``."""
    first = (
        events.select("txn_id", pl.int_range(pl.len(), dtype=pl.UInt32).alias("i"))
        .sort("txn_id", "i")
        .filter(pl.col("txn_id") != pl.col("txn_id").shift(1, fill_value=-1))["i"]
    )
    keys = requests.select(pl.col("user_id").unique()).with_row_index("k")
    span = SPAN_US + 12 * 86_400 * 10**6
    origin = int(START.timestamp() * 1e6) - 11 * 86_400 * 10**6
    code = pl.col("k").cast(pl.Int64) * span + pl.col("ts").dt.epoch("us") - origin
    ev = (
        events[first.sort()]
        .join(keys, on="user_id")
        .select(code.alias("c"), "amount")
        .sort("c")
        .select("c", pl.col("amount").cum_sum().alias("s"), pl.int_range(1, pl.len() + 1).alias("n"))
        .set_sorted("c")
    )
    rq = (
        requests.join(keys, on="user_id", how="left")
        .select("__row", (pl.col("k").cast(pl.Int64) * span + pl.col("as_of").dt.epoch("us") - origin).alias("q"))
        .sort("q")
    )
    out = rq.join_asof(ev, left_on="q", right_on="c", strategy="backward", allow_exact_matches=False)
    out = out.select("__row", pl.col("s").fill_null(0.0).alias("s_hi"), pl.col("n").fill_null(0).alias("n_hi"), "q")
    for over in WINDOWS:
        micros = parse_duration(over) // timedelta(microseconds=1)
        lo = out.select((pl.col("q") - micros).alias("q")).join_asof(
            ev, left_on="q", right_on="c", strategy="backward", allow_exact_matches=False
        )
        total = out["s_hi"] - lo["s"].fill_null(0.0)
        count = out["n_hi"] - lo["n"].fill_null(0)
        out = out.with_columns(
            total.alias(f"amount_sum_{over}"),
            count.alias(f"amount_count_{over}"),
            (total / count).alias(f"amount_mean_{over}"),
        )
    return out.drop("s_hi", "n_hi", "q")


def run_duckdb(events: pl.DataFrame, requests: pl.DataFrame) -> pl.DataFrame:
    """DuckDB SQL: dedup by ROW_NUMBER, per-(key, ts) totals, running sums, one ASOF join per window bound."""
    con = duckdb.connect()
    con.register("ev", events.with_row_index("frame_order").to_arrow())
    con.register("rq", requests.to_arrow())
    bounds = ", ".join(
        f"as_of - INTERVAL {parse_duration(o) // timedelta(seconds=1)} SECOND AS t_{i}" for i, o in enumerate(WINDOWS)
    )
    joins = "\n".join(
        f"ASOF LEFT JOIN c lo{i} ON r.user_id = lo{i}.user_id AND r.t_{i} > lo{i}.ts" for i in range(len(WINDOWS))
    )
    cols = ",\n".join(
        f"coalesce(hi.cs, 0) - coalesce(lo{i}.cs, 0) AS amount_sum_{o}, "
        f"coalesce(hi.cn, 0) - coalesce(lo{i}.cn, 0) AS amount_count_{o}, "
        f"(coalesce(hi.cs, 0) - coalesce(lo{i}.cs, 0)) / nullif(coalesce(hi.cn, 0) - coalesce(lo{i}.cn, 0), 0)"
        f" AS amount_mean_{o}"
        for i, o in enumerate(WINDOWS)
    )
    sql = f"""
    WITH d AS (SELECT user_id, ts, amount FROM ev
               QUALIFY row_number() OVER (PARTITION BY txn_id ORDER BY frame_order) = 1),
    g AS (SELECT user_id, ts, sum(amount) AS s, count(amount) AS n FROM d GROUP BY ALL),
    c AS (SELECT user_id, ts, sum(s) OVER w AS cs, sum(n) OVER w AS cn FROM g
          WINDOW w AS (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING)),
    r AS (SELECT __row, user_id, as_of, {bounds} FROM rq)
    SELECT r.__row, {cols}
    FROM r ASOF LEFT JOIN c hi ON r.user_id = hi.user_id AND r.as_of > hi.ts
    {joins}
    """
    return con.sql(sql).pl()


def timed(function: Callable[[], pl.DataFrame], repeat: int) -> tuple[float, pl.DataFrame]:
    """Median wall-clock seconds over ``repeat`` runs, and the last result."""
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = function()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def agree(a: pl.DataFrame, b: pl.DataFrame, columns: list[str]) -> bool:
    """Same values per ``__row``: ints exact, floats within 1e-6 relative / 1e-6 absolute."""
    joined = a.select("__row", *columns).join(
        b.select(pl.col("__row").cast(a["__row"].dtype), *columns), on="__row", suffix="_b"
    )
    if len(joined) != len(a):
        return False
    for column in columns:
        x, y = joined[column].cast(pl.Float64).to_numpy(), joined[f"{column}_b"].cast(pl.Float64).to_numpy()
        both_null = np.isnan(x) & np.isnan(y)
        if not np.all(both_null | np.isclose(x, y, rtol=1e-6, atol=1e-6)):
            return False
    return True


def main() -> None:
    """Parse arguments, run every contender, print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--others-events", type=int, default=None, help="events for the non-prefix aggregations")
    args = parser.parse_args()
    events, requests = workload(args.events, args.requests, args.keys)
    specs = [make_spec(agg, over) for over in WINDOWS for agg in ("sum", "count", "mean")]
    columns = [s.node for s in specs]

    fdag_s, fdag_out = timed(lambda: run_fdag(specs, events, requests), args.repeat)
    polars_s, polars_out = timed(lambda: run_polars(events, requests), args.repeat)
    duck_s, duck_out = timed(lambda: run_duckdb(events, requests), args.repeat)
    print(f"command: {' '.join([sys.executable, *sys.argv])}\n")
    print(
        f"{args.events:,} events x {args.requests:,} requests, {args.keys:,} keys, 9 specs "
        f"(5m/1h/10d x sum/count/mean), median of {args.repeat}\n"
    )
    print("| engine | seconds | vs hand-written Polars | agrees with fdag |")
    print("|---|---|---|---|")
    print(f"| fdag window_frame | {fdag_s:.3f} | {fdag_s / polars_s:.2f}x | - |")
    print(f"| hand-written Polars | {polars_s:.3f} | 1.00x | {agree(fdag_out, polars_out, columns)} |")
    print(f"| DuckDB SQL (ASOF) | {duck_s:.3f} | {duck_s / polars_s:.2f}x | {agree(fdag_out, duck_out, columns)} |")

    n_other = args.others_events or args.events
    other_events, other_requests = workload(n_other, args.requests, args.keys, seed=1)
    print(f"\nnon-prefix aggregations, fdag only, {n_other:,} events x {args.requests:,} requests, one spec each\n")
    print("| aggregation | 1h | 10d |")
    print("|---|---|---|")
    for agg in ("min", "max", "std", "distinct_count", "last_n(5)", "first", "last"):
        row = [
            timed(lambda a=agg, o=o: run_fdag([make_spec(a, o)], other_events, other_requests), args.repeat)[0]
            for o in ("1h", "10d")
        ]
        print(f"| {agg} | {row[0]:.3f} | {row[1]:.3f} |")


if __name__ == "__main__":
    main()
