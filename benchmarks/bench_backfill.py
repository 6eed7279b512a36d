"""Backfill benchmark: the fraud features over N events x M spine rows to a day-partitioned Parquet dataset.

(a) ``FrameDriver.backfill`` (local engine) vs ``FrameDriver.run`` + one ``write_parquet`` of the same result
    (goal: backfill <= 1.3x). (b) ``engine="ray"`` with 2 workers vs the local engine on the same workload
    (goal: speed-up >= 0.6 x workers), and the per-partition overhead of both on a tiny many-day workload.

Workload (deterministic): N events over 30 days for N/100 string keys (a few heavy users), unsorted; M requests
at event instants of the last 20 days. Run::

    .venv/bin/python benchmarks/bench_backfill.py --events 10000000 --requests 1000000 --repeat 3
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

import fdag
from fdag.demo import fraud

START = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 30


def events_frame(count: int, seed: int = 1) -> pl.DataFrame:
    """``count`` card transactions over ``DAYS`` days, keys skewed towards a few heavy users, in random order."""
    rng = np.random.default_rng(seed)
    users = max(count // 100, 1)
    return pl.DataFrame({
        "number": np.arange(count),
        "user": (users * rng.random(count) ** 3).astype(np.int64),
        "offset": rng.integers(0, DAYS * 86_400 * 10**6, count),
        "amount": np.round(rng.lognormal(3.2, 1.1, count), 2),
        "shop": rng.integers(0, 40, count),
    }).select(
        pl.format("t{}", "number").alias("txn_id"),
        pl.format("u{}", "user").alias("user_id"),
        (pl.lit(START) + pl.duration(microseconds=pl.col("offset"))).alias("ts"),
        "amount",
        pl.format("m{}", "shop").alias("merchant"),
    )


def spine_frame(events: pl.DataFrame, count: int, seed: int = 2) -> pl.DataFrame:
    """``count`` payments to score, drawn from the events of the last 20 days (so windows have history)."""
    recent = events.filter(pl.col("ts") >= pl.lit(START) + pl.duration(days=DAYS - 20))
    return (recent.sample(min(count, recent.height), seed=seed)
            .select("user_id", "amount", "merchant", pl.col("ts").alias("as_of")))


def timed(action: Callable[[], object], repeat: int) -> float:
    """Median wall-clock seconds of ``repeat`` runs."""
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def bench_local(frame: fdag.FrameDriver, spine: pl.DataFrame, events: pl.DataFrame, work: Path,
                repeat: int) -> tuple[float, float]:
    """(run + write_parquet, backfill) median seconds."""
    sources = {"transactions": events}

    def baseline() -> None:
        frame.run(spine, sources=sources).write_parquet(work / "plain.parquet")

    def backfill() -> None:
        frame.backfill(spine, sources, work / "local", progress=False, overwrite=True)

    return timed(baseline, repeat), timed(backfill, repeat)


def per_partition(frame: fdag.FrameDriver, work: Path, engine: str, repeat: int) -> float:
    """Milliseconds per partition on a tiny workload (30 days, ~10 rows a day): the fixed cost of a partition."""
    events = events_frame(3_000)
    spine = events.sample(300, seed=5).select("user_id", "amount", "merchant", pl.col("ts").alias("as_of"))
    partitions = spine["as_of"].dt.date().n_unique()

    def run() -> None:
        frame.backfill(spine, {"transactions": events}, work / f"tiny-{engine}", engine=engine,  # type: ignore[arg-type]
                       workers=2 if engine == "ray" else None, progress=False, overwrite=True)

    return timed(run, repeat) / partitions * 1000


def main() -> None:
    """Parse arguments, run both benchmarks, print Markdown tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-ray", action="store_true", help="skip (b)")
    args = parser.parse_args()
    command = "python " + " ".join(sys.argv)

    started = time.perf_counter()
    events = events_frame(args.events)
    spine = spine_frame(events, args.requests)
    print(f"workload: {events.height:,} events, {spine.height:,} spine rows, "
          f"{spine['as_of'].dt.date().n_unique()} day partitions (built in {time.perf_counter() - started:.1f} s)\n")
    frame = fdag.FrameDriver(fdag.Dag.from_modules(fraud))
    work = Path(tempfile.mkdtemp(prefix="fdag-bench-backfill-"))
    try:
        plain, local = bench_local(frame, spine, events, work, args.repeat)
        print(f"## (a) backfill vs run + write_parquet ({len(frame.outputs)} features, median of {args.repeat})\n")
        print("| path | seconds | rows/s | vs run + write |\n|---|---:|---:|---:|")
        print(f"| `run` + `write_parquet` (one file) | {plain:.2f} | {spine.height / plain:,.0f} | 1.00x |")
        print(f"| `backfill` (local, one file a day) | {local:.2f} | {spine.height / local:,.0f} | "
              f"{local / plain:.2f}x (goal <= 1.3x) |")
        if not args.no_ray:
            bench_ray(frame, spine, events, work, args, local)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nreproduce: `{command}`")


def bench_ray(frame: fdag.FrameDriver, spine: pl.DataFrame, events: pl.DataFrame, work: Path,
              args: argparse.Namespace, local: float) -> None:
    """(b): Ray with ``args.workers`` workers vs the local engine, and the per-partition overhead of each."""
    import ray

    started = time.perf_counter()
    from fdag._backfill.ray import ensure_ray

    ensure_ray(ray, args.workers)
    startup = time.perf_counter() - started

    def distributed() -> None:
        frame.backfill(spine, {"transactions": events}, work / "ray", engine="ray", workers=args.workers,
                       progress=False, overwrite=True)

    distributed()  # warm the workers (imports, first task) once, as a long backfill would
    seconds = timed(distributed, args.repeat)
    speedup = local / seconds
    print(f"\n## (b) Ray engine, {args.workers} workers, vs local (median of {args.repeat}; Ray start-up "
          f"{startup:.1f} s not included)\n")
    print("| engine | seconds | speed-up | goal |\n|---|---:|---:|---:|")
    print(f"| local | {local:.2f} | 1.00x | |")
    print(f"| ray ({args.workers} workers) | {seconds:.2f} | {speedup:.2f}x | >= {0.6 * args.workers:.1f}x "
          f"({'met' if speedup >= 0.6 * args.workers else 'not met'}) |")
    print("\n| per-partition cost (30 tiny partitions) | ms/partition |\n|---|---:|")
    for engine in ("local", "ray"):
        print(f"| {engine} | {per_partition(frame, work, engine, args.repeat):.1f} |")
    ray.shutdown()


if __name__ == "__main__":
    main()
