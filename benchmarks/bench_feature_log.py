"""What logging every served vector costs ``RowDriver.get``: the same DAG and state with and without a FeatureLog.

Three drivers built alike (same DAG, outputs and window state) answer the same request; each round times all
three, alternating the order, and the added cost is the median over rounds of (logged - plain), and its mean.
The logs: one written only between rounds (the hot path alone: a dict copy and one list extend) and the default
(a flush of 10,000 rows in the writer thread every 5 rounds, competing for the GIL: the mean spreads it over
all rounds, which is what a busy service pays on average). Also: how fast one flush converts and writes rows.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_feature_log.py [--calls 2000] [--repeat 101]``
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fdag
from benchmarks.bench_core import AS_OF, REQUEST
from fdag.demo.samples import transactions
from feature_modules import fraud, payment


def per_call(get: Callable[..., Any], request: dict[str, Any], as_of: datetime, calls: int) -> float:
    """µs per ``get`` over ``calls`` calls."""
    started = time.perf_counter()
    for _ in range(calls):
        get(request, as_of)
    return (time.perf_counter() - started) / calls * 1e6


def compare(make: Callable[[fdag.FeatureLog | None], fdag.RowDriver], request: dict[str, Any], as_of: datetime,
            calls: int, repeat: int, folder: Path) -> dict[str, tuple[float, float, float]]:
    """Median µs per call, and the median and mean added µs, for no log, a hot-path-only log and the default log.

    The median of the per-round differences is the typical ``get``; the mean spreads the rounds in which the
    default log flushes over all of them (what a busy service pays on average)."""
    hot = fdag.FeatureLog(folder / "hot", max_rows=calls + 1, max_seconds=None)  # flushed between rounds only
    default = fdag.FeatureLog(folder / "default")
    drivers = {"no log": make(None), "log, buffer only": make(hot), "log, default flushing": make(default)}
    times: dict[str, list[float]] = {name: [] for name in drivers}
    for round_ in range(repeat):
        order = list(drivers) if round_ % 2 == 0 else list(reversed(drivers))
        for name in order:
            times[name].append(per_call(drivers[name].get, request, as_of, calls))
        hot.flush()  # untimed: the buffer-only contender never writes while it is measured
    hot.close()
    default.close()
    base = times["no log"]
    added = {name: [x - b for x, b in zip(t, base, strict=True)] for name, t in times.items()}
    return {name: (statistics.median(times[name]), statistics.median(added[name]), statistics.fmean(added[name]))
            for name in times}


def flush_rate(make: Callable[[fdag.FeatureLog | None], fdag.RowDriver], request: dict[str, Any],
               as_of: datetime, rows: int, folder: Path) -> float:
    """Rows per second one flush converts and writes."""
    log = fdag.FeatureLog(folder / "flush", max_rows=rows * 2, max_seconds=None)
    row = make(log)
    for _ in range(rows):
        row.get(request, as_of)
    started = time.perf_counter()
    log.flush()
    return rows / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2_000, help="gets per contender per round")
    parser.add_argument("--repeat", type=int, default=101, help="rounds")
    args = parser.parse_args()
    payments = fdag.Dag.from_modules(payment)
    frauds = fdag.Dag.from_modules(fraud)
    events = transactions(users=300, count=20_000, days=20)
    now = events["ts"].max() + timedelta(seconds=1)  # type: ignore[operator]
    fraud_request = {"user_id": "u0", "amount": 12.5, "merchant": "m3"}

    def payment_driver(log: fdag.FeatureLog | None) -> fdag.RowDriver:
        return fdag.RowDriver(payments, log=log)

    def fraud_driver(log: fdag.FeatureLog | None) -> fdag.RowDriver:
        row = fdag.RowDriver(frauds, log=log)
        row.bootstrap("transactions", events)
        return row

    cases = [("20-node payment DAG (no windows)", payment_driver, REQUEST, AS_OF),
             ("fraud DAG (17 features, 12 windows; heaviest user)", fraud_driver, fraud_request, now)]
    print(f"RowDriver.get with and without a FeatureLog: {args.calls:,} calls x {args.repeat} rounds, interleaved "
          f"({datetime.now(UTC):%Y-%m-%d})")
    with tempfile.TemporaryDirectory() as folder:
        for index, (title, make, request, as_of) in enumerate(cases):
            print(f"\n{title}\n| driver | median µs per get | added µs, median round | added µs, mean round |")
            print("|---|---|---|---|")
            for name, (micros, median, mean) in compare(make, request, as_of, args.calls, args.repeat,
                                                        Path(folder) / str(index)).items():
                added = "| | |" if name == "no log" else f"| {median:+.2f} | {mean:+.2f} |"
                print(f"| {name} | {micros:.2f} {added}")
            rate = flush_rate(make, request, as_of, 10_000, Path(folder) / f"{index}-flush")
            print(f"one flush of 10,000 rows: {rate:,.0f} rows/s ({1e6 / rate:.1f} µs per row, in the writer thread)")


if __name__ == "__main__":
    main()
