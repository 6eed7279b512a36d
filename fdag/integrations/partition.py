"""One time partition of a feature table: the spine rows whose ``as_of`` falls in ``[start, end)``, their features,
and — when a dataset path is given — the day partitions of ``FrameDriver.backfill`` they are written to.

Shared by the Dagster and Airflow integrations; it needs neither.
"""

from __future__ import annotations

import hashlib
import importlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from fdag._backfill.job import PART_FILE, lazy_frame
from fdag._dag.dag import Dag
from fdag._dag.node import AS_OF
from fdag._frame.driver import FrameDriver
from fdag._values.calls import ErrorRecord
from fdag._values.frames import column_expr
from fdag._values.results import CheckResult
from fdag._values.types import FType
from fdag.errors import InputError

#: A frame (Polars, pandas, Arrow, LazyFrame), a Parquet path, or ``load(start, end) -> frame`` called with the
#: partition's time window (``None, None`` when there is none).
Loader = Any


def day_window(day: str | date) -> tuple[datetime, datetime]:
    """``[day 00:00 UTC, next day 00:00 UTC)`` for an ISO day such as Airflow's ``{{ ds }}``."""
    start = datetime.combine(date.fromisoformat(day) if isinstance(day, str) else day, time(), UTC)
    return start, start + timedelta(days=1)


def dag_from_module_names(module_names: Sequence[str] | str) -> Dag:
    """``Dag.from_modules`` on modules given by dotted name (what a scheduler can pass as a plain string)."""
    names = [module_names] if isinstance(module_names, str) else list(module_names)
    return Dag.from_modules(*(importlib.import_module(name) for name in names))


def resolve(loader: Loader, start: datetime | None, end: datetime | None) -> Any:
    """A loader's data for the window: callables are called with it; frames and Parquet paths pass through."""
    if callable(loader) and not isinstance(loader, pl.DataFrame | pl.LazyFrame):
        return loader(start, end)
    return loader


def in_window(
    frame: Any, column: str, start: datetime | None, end: datetime | None, what: str = "spine"
) -> pl.LazyFrame:
    """The rows of ``frame`` whose instant ``column`` (naive read as UTC) lies in ``[start, end)``, lazily."""
    lazy = lazy_frame(frame, what)
    instant = column_expr(lazy.collect_schema(), column, FType(datetime), what)
    keep = pl.lit(True)
    if start is not None:
        keep &= instant >= start
    if end is not None:
        keep &= instant < end
    return lazy.filter(keep)


def compute_partition(
    frame: FrameDriver,
    spine: Loader,
    sources: Mapping[str, Loader],
    start: datetime | None,
    end: datetime | None,
    as_of: str = AS_OF,
) -> tuple[pl.DataFrame, dict[str, Any]]:
    """Features for the spine rows with ``as_of`` in ``[start, end)``, in memory, and the run's fdag metadata.

    Events at or after ``end`` fall in no window of those rows (windows end at ``as_of``), so they are dropped
    first; the table equals ``frame.run`` on the same spine rows with every event.
    """
    rows = in_window(resolve(spine, start, end), as_of, start, end).collect()
    events = {}
    for name, loader in sources.items():
        what = f"events of source '{name}'"
        lazy = lazy_frame(resolve(loader, start, end), what)
        source = frame.plan.sources.get(name)
        if source is not None and end is not None:
            lazy = in_window(lazy, source.timestamp, None, end, what)
        events[name] = lazy.collect()
    result = frame.evaluate(rows, sources=events, as_of=as_of)
    return result.table, run_metadata(frame, result.table.height, result.errors, result.checks)


def backfill_partition(
    frame: FrameDriver,
    spine: Loader,
    sources: Mapping[str, Loader],
    start: datetime | None,
    end: datetime | None,
    path: str | Path,
    as_of: str = AS_OF,
    overwrite: bool = False,
) -> tuple[list[Path], dict[str, Any]]:
    """Write the window's spine rows with ``FrameDriver.backfill``: one file per UTC day of ``as_of``.

    Days already written by the same code for the same rows are skipped (resumable), unless ``overwrite``. Returns
    the day files in order and the fdag metadata (its errors and checks are those of the days this call computed).
    """
    for bound in (start, end):
        if bound is not None and bound.astimezone(UTC).timetz() != time(tzinfo=UTC):
            raise InputError(as_of, f"partition bound {bound.isoformat()} is not a UTC midnight, so the window "
                             "cannot be written as whole day partitions",
                             "use daily (or coarser) partitions in UTC, or no path to keep the frame in memory")
    rows = in_window(resolve(spine, start, end), as_of, start, end)
    events = {name: resolve(loader, start, end) for name, loader in sources.items()}
    report = frame.backfill(rows, events, path, partition_by="day", as_of=as_of, progress=False, overwrite=overwrite)
    files = [report.path / name / PART_FILE for name in sorted([*report.written, *report.skipped])]
    count = pl.scan_parquet(files, hive_partitioning=False).select(pl.len()).collect().item() if files else 0
    return files, run_metadata(frame, count, report.errors, report.checks)


def read_partitions(files: Sequence[Path]) -> pl.DataFrame:
    """The rows of the day files, day after day (spine order within a day), without the hive column."""
    return pl.concat([pl.read_parquet(file, hive_partitioning=False) for file in files])


def run_metadata(frame: FrameDriver, rows: int, errors: Sequence[ErrorRecord],
                 checks: Sequence[CheckResult] = ()) -> dict[str, Any]:
    """What a run produced, as JSON-ready data: outputs, node versions, lineage, rows, errors and check results
    (from its result)."""
    return {
        "outputs": list(frame.outputs),
        "versions": dict(frame.plan.versions),
        "lineage": {name: lineage.to_dict() for name, lineage in frame.plan.lineage.items()},
        "row_count": rows,
        "errors": [asdict(error) for error in errors],
        "checks": [asdict(check) for check in checks],
    }


def code_version(frame: FrameDriver) -> str:
    """One short hash of every planned node's version: changes exactly when some output's value could."""
    text = json.dumps(sorted(frame.plan.versions.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
