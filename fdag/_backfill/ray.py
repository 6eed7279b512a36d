"""Backfills on Ray: each batch of partitions is split by entity key into buckets, one Polars job per bucket.

A window only reads events of its own key, so a bucket (the spine rows whose key hashes to it, and the events of
those keys) is computed on its own by ``FrameDriver.evaluate`` in a Ray task. The driver gathers a batch's buckets,
restores the spine's row order and writes the same files the local engine writes. Used through
``FrameDriver.backfill(..., engine="ray", workers=N)``; ray is imported only then.
"""

from __future__ import annotations

import os
import sys
from collections import deque
from collections.abc import Iterator
from typing import Any

import polars as pl

from fdag._backfill.job import ROW_INDEX, Backfill, Batch, FrameEngine, visible_events
from fdag._dag.checks import CheckSpec, merge_results, plan_checks, recording_checks
from fdag._declare.source import Source
from fdag._values.calls import ErrorRecord
from fdag._values.frames import column_expr
from fdag._values.results import CheckResult
from fdag.errors import MissingDependencyError

BUCKET = "__fdag_bucket"
LOOKAHEAD = 2  # batches in flight beyond the one being written: keeps workers busy, memory bounded
_SEED = 0


def import_ray() -> Any:
    """The ``ray`` module, or a ``MissingDependencyError`` whose hint installs it."""
    try:
        import ray
    except ImportError:
        raise MissingDependencyError("ray", "backfill(engine='ray')", extra="ray") from None
    return ray


def ensure_ray(ray: Any, workers: int | None) -> int:
    """Connect to Ray (``RAY_ADDRESS``) or start a local one with ``workers`` CPUs; return the CPUs available."""
    if not ray.is_initialized():
        if os.environ.get("RAY_ADDRESS"):
            ray.init()
        else:
            # Workers import the feature modules to unpickle the DAG, so they get this process's import path; one
            # Polars thread each, since Ray already runs one task per CPU.
            path = os.pathsep.join(entry for entry in sys.path if entry and os.path.isdir(entry))
            env = {"PYTHONPATH": path, "POLARS_MAX_THREADS": "1"}
            ray.init(num_cpus=workers, include_dashboard=False, runtime_env={"env_vars": env},
                     log_to_driver=False, configure_logging=False)
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def bucket_source(job: Backfill) -> Source | None:
    """The window or lookup source whose key splits the spine: the first (by name) whose key is a spine column."""
    spine = job.spine.collect_schema()
    keyed = [job.frame.plan.sources[name] for name in sorted(job.frame.plan.sources)]
    return next((source for source in keyed if source.key in spine), None)


def bucket_expr(source: Source, schema: pl.Schema, buckets: int, what: str) -> pl.Expr:
    """The bucket of each row: the hash of its ``source.key``, cast to the declared key type so spine rows and
    events hash alike."""
    key = column_expr(schema, source.key, source.key_type, what)
    return (key.hash(seed=_SEED) % buckets).alias(BUCKET)


def split_events(ray: Any, job: Backfill, by: Source | None, buckets: int) -> dict[str, list[Any]]:
    """Per source, what each bucket's tasks read: a Parquet path (scanned in the task) or one object per bucket.

    In-memory events of a window or lookup source keyed like the spine's buckets are split by key once and put in
    the object store, so a task never copies other buckets'; any other source is shared whole (it is read for
    other keys).
    """
    split: dict[str, list[Any]] = {}
    for name, events in job.sources.items():
        if name in job.paths:
            split[name] = [job.paths[name]] * buckets
            continue
        frame = events.collect()
        source = job.frame.plan.sources.get(name)
        same_key = (by is not None and source is not None
                    and source.key == by.key and source.key_type == by.key_type)
        if not same_key:
            split[name] = [ray.put(frame)] * buckets
            continue
        bucket = bucket_expr(by, frame.schema, buckets, f"events of source '{name}'")  # type: ignore[arg-type]
        parts = frame.with_columns(bucket).partition_by(BUCKET, as_dict=True, include_key=False)
        split[name] = [ray.put(parts.get((b,), frame.head(0))) for b in range(buckets)]
    return split


def run_bucket(frame: FrameEngine, rows: pl.DataFrame, events: dict[str, Any], batch: Batch,
               as_of: str) -> tuple[pl.DataFrame, list[ErrorRecord], tuple[CheckResult, ...]]:
    """One bucket of one batch: its visible events (read here, in the task), then the table, errors and (recorded)
    check results of ``FrameDriver.evaluate`` on them."""
    import ray

    visible = {}
    for name, where in events.items():
        lazy = pl.scan_parquet(where) if isinstance(where, str) else ray.get(where).lazy()
        visible[name] = visible_events(frame.plan, name, lazy, batch, rows).collect()
    with recording_checks():
        result = frame.evaluate(rows, sources=visible, as_of=as_of, with_errors=True)
    return result.table, list(result.errors), result.checks


def ray_results(job: Backfill, todo: list[Batch], workers: int | None) -> Iterator[
        tuple[Batch, pl.DataFrame, list[ErrorRecord], tuple[CheckResult, ...]]]:
    """Compute ``todo`` on Ray, one task per key bucket of each batch, yielding batches in order."""
    ray = import_ray()
    cpus = ensure_ray(ray, workers)
    buckets = workers or cpus
    if not todo:
        return
    remote = ray.remote(num_cpus=1)(run_bucket)
    specs = plan_checks(job.frame.plan.nodes)
    frame_ref = ray.put(job.frame)
    by = bucket_source(job)
    events = split_events(ray, job, by, buckets)

    def submit(batch: Batch) -> list[Any]:
        rows = job.rows(batch).collect(engine="streaming")
        if by is None:  # no keyed window: any split will do
            bucket = (pl.col(ROW_INDEX) % buckets).alias(BUCKET)
        else:
            bucket = bucket_expr(by, rows.schema, buckets, "spine")
        parts = rows.with_columns(bucket).partition_by(BUCKET, as_dict=True, include_key=False)
        return [remote.remote(frame_ref, part, {name: refs[b] for name, refs in events.items()}, batch, job.as_of)
                for (b,), part in sorted(parts.items())]

    pending: deque[tuple[Batch, list[Any]]] = deque()
    for batch in todo:
        pending.append((batch, submit(batch)))
        if len(pending) > LOOKAHEAD:
            yield gather(ray, specs, *pending.popleft())
    while pending:
        yield gather(ray, specs, *pending.popleft())


def gather(ray: Any, specs: tuple[CheckSpec, ...], batch: Batch, refs: list[Any]) -> tuple[
        Batch, pl.DataFrame, list[ErrorRecord], tuple[CheckResult, ...]]:
    """Wait for a batch's buckets; concatenate them (``Backfill.split`` restores the spine's row order) and sum
    their check results (one run: the batch)."""
    done = ray.get(refs)
    result = pl.concat([frame for frame, _, _ in done], how="vertical_relaxed")
    checks = merge_results(specs, [bucket for _, _, bucket in done])
    return batch, result, [error for _, errors, _ in done for error in errors], checks
