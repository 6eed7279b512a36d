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
    """Best hand-written Polars: dedup (``is_first_distinct``), dense key codes, one global sort, cum sums,
    ``join_asof``."""
    keys = requests.select(pl.col("user_id").unique()).with_row_index("k")
    span = SPAN_US + 12 * 86_400 * 10**6
    origin = int(START.timestamp() * 1e6) - 11 * 86_400 * 10**6
    code = pl.col("k").cast(pl.Int64) * span + pl.col("ts").dt.epoch("us") - origin
    ev = (
        events.filter(pl.col("txn_id").is_first_distinct())
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


def interleaved(
    contenders: list[Callable[[], pl.DataFrame]], repeat: int
) -> tuple[list[list[float]], list[list[float]], list[pl.DataFrame]]:
    """Wall and CPU seconds (all threads) per round for each contender, order alternating between rounds, and
    each one's last result. CPU time is the steadier measure of work on a shared machine."""
    wall: list[list[float]] = [[] for _ in contenders]
    cpu: list[list[float]] = [[] for _ in contenders]
    results: list[pl.DataFrame] = [pl.DataFrame()] * len(contenders)
    for round_ in range(repeat):
        order = range(len(contenders)) if round_ % 2 == 0 else reversed(range(len(contenders)))
        for i in order:
            start, start_cpu = time.perf_counter(), time.process_time()
            results[i] = contenders[i]()
            wall[i].append(time.perf_counter() - start)
            cpu[i].append(time.process_time() - start_cpu)
    return wall, cpu, results


def median_ratio(ours: list[float], theirs: list[float]) -> float:
    """The median of the per-round ratios."""
    return statistics.median(x / y for x, y in zip(ours, theirs, strict=True))


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

    wall, cpu, (fdag_out, polars_out, duck_out) = interleaved(
        [lambda: run_fdag(specs, events, requests), lambda: run_polars(events, requests),
         lambda: run_duckdb(events, requests)],
        args.repeat,
    )
    print(f"command: {' '.join([sys.executable, *sys.argv])}\n")
    print(
        f"{args.events:,} events x {args.requests:,} requests, {args.keys:,} keys, 9 specs "
        f"(5m/1h/10d x sum/count/mean), {args.repeat} interleaved rounds; ratios are medians of per-round ratios\n"
    )
    print("| engine | median s | wall ratio | CPU ratio | per-round wall ratios | agrees with fdag |")
    print("|---|---|---|---|---|---|")
    engines = (("fdag window_frame", 0, "-"), ("hand-written Polars", 1, agree(fdag_out, polars_out, columns)),
               ("DuckDB SQL (ASOF)", 2, agree(fdag_out, duck_out, columns)))
    for name, i, same in engines:
        rounds = ", ".join(f"{x / y:.2f}" for x, y in zip(wall[i], wall[1], strict=True))
        print(f"| {name} | {statistics.median(wall[i]):.3f} | {median_ratio(wall[i], wall[1]):.2f}x "
              f"| {median_ratio(cpu[i], cpu[1]):.2f}x | {rounds} | {same} |")

    n_other = args.others_events or args.events
    other_events, other_requests = workload(n_other, args.requests, args.keys, seed=1)
    print(f"\nnon-prefix aggregations, fdag only, {n_other:,} events x {args.requests:,} requests, one spec each, "
          "median s\n")
    print("| aggregation | 1h | 10d |")
    print("|---|---|---|")
    for agg in ("min", "max", "std", "distinct_count", "last_n(5)", "first", "last"):
        row = [
            statistics.median(interleaved([lambda a=agg, o=o: run_fdag([make_spec(a, o)], other_events,
                                                                        other_requests)], args.repeat)[0][0])
            for o in ("1h", "10d")
        ]
        print(f"| {agg} | {row[0]:.3f} | {row[1]:.3f} |")


if __name__ == "__main__":
    main()
