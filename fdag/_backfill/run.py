"""The backfill run loop: which partitions are due, computed batch by batch (here or on Ray), written as they come."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import polars as pl

from fdag._backfill.job import Backfill, BackfillReport, Batch, FrameEngine, batches, merge_errors
from fdag._dag.checks import act, merge_results, plan_checks
from fdag._values.calls import ErrorRecord
from fdag._values.results import CheckResult
from fdag.errors import DeclarationError, InputError


def local_results(job: Backfill, todo: list[Batch], workers: int | None) -> Iterator[
        tuple[Batch, pl.DataFrame, list[ErrorRecord], tuple[CheckResult, ...]]]:
    """Compute the batches one after another in this process (Polars uses every core for each one)."""
    for batch in todo:
        yield (batch, *job.compute(batch))


def backfill(
    frame: FrameEngine,
    spine: Any,
    sources: Mapping[str, Any] | None,
    path: str | Path,
    partition_by: str = "day",
    as_of: str = "as_of",
    engine: Literal["local", "ray"] = "local",
    progress: bool = True,
    workers: int | None = None,
    overwrite: bool = False,
    batch_rows: int = 1_000_000,
) -> BackfillReport:
    """Compute and write every partition that is missing or out of date; see ``FrameDriver.backfill``."""
    from tqdm.auto import tqdm  # here, not at the top: `import fdag` must stay cheap for model services

    started = time.perf_counter()
    if engine == "local":
        run_batches = local_results
    elif engine == "ray":
        from fdag._backfill.ray import ray_results as run_batches
    else:
        raise DeclarationError("engine", engine, "is not 'local' or 'ray'", "'ray' spreads partitions over a cluster")
    job = Backfill.prepare(frame, spine, sources, path, partition_by, as_of)
    try:
        job.path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file is in the way, or no permission: nothing has been computed yet
        raise InputError("path", f"is {os.fspath(path)!r}, which cannot be made a directory ({exc})",
                         "pass the path of a directory fdag may create and write") from None
    job.remove_temporaries()
    todo = [p for p in job.partitions if overwrite or not job.is_current(p)]
    skipped = tuple(p.name for p in job.partitions if p not in todo)
    written, rows, errors = [], 0, []
    specs, checks = plan_checks(frame.plan.nodes), []
    with tqdm(total=len(job.partitions), initial=len(skipped), disable=not progress, unit="partition",
              desc=f"backfill {job.path.name}") as bar:
        for batch, result, batch_errors, batch_checks in run_batches(job, batches(todo, batch_rows), workers):
            # Each batch is one run for its checks: warned about, or raised before any of it is written.
            act(specs, batch_checks)
            checks.append(batch_checks)
            for partition, partition_rows, partition_errors in job.split(batch, result):
                job.write(partition, partition_rows, partition_errors)
                written.append(partition.name)
                rows += partition_rows.height
                bar.set_postfix_str(partition.name, refresh=False)
                bar.update(1)
            errors += batch_errors
    return BackfillReport(job.path, tuple(written), skipped, rows, time.perf_counter() - started,
                          tuple(merge_errors(errors)), merge_results(specs, checks))
