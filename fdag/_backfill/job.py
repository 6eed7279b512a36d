"""``FrameDriver.backfill``: a spine of any size to a hive-partitioned Parquet dataset, one partition at a time.

Each partition (a day of ``as_of`` by default) is computed from only its own spine rows and the events its
windows can see (``[first as_of - longest window, last as_of]``), written atomically with its fdag metadata
(versions, lineage, as-of range, rows) and skipped on the next run while its versions are unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import polars as pl

from fdag._dag.checks import recording_checks
from fdag._dag.plan import Plan
from fdag._values.atomic import write_parquet_atomically
from fdag._values.calls import ErrorRecord
from fdag._values.frames import beyond_python, column_expr, scan_parquet, to_polars
from fdag._values.results import CheckResult, FrameResult
from fdag._values.types import FType
from fdag._version import __version__
from fdag.errors import InputError, InputTypeError, MissingInputError


class FrameEngine(Protocol):
    """What a backfill needs of the offline engine (``FrameDriver``): its plan and a run over one batch."""

    plan: Plan

    def evaluate(self, spine: Any, sources: Mapping[str, Any] | None = None, as_of: str = ...,
                 check_as_of: bool = ..., with_as_of: bool = ..., with_errors: bool = ...) -> FrameResult:
        """Features for every row of ``spine``, with the run's errors (``with_errors``: per row, per output)."""
        ...

PART_FILE = "part-0.parquet"
METADATA_KEY = "fdag"
ROW_INDEX = "__fdag_row"
_PART = "__fdag_partition"
NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"  # what Hive, Spark and Polars read back as null
_TEMPORARY = f".{PART_FILE}."  # prefix of in-flight files: hidden, removed on failure and at the next start


@dataclass(frozen=True)
class BackfillReport:
    """What one ``backfill`` call did: partitions written and skipped (by directory name), rows written, time,
    and the errors that became null values and the check results (``@fdag.check_output``) of the partitions it
    computed (summed over its batches; ``max_null_fraction`` judged again over the sums)."""

    path: Path
    written: tuple[str, ...]
    skipped: tuple[str, ...]
    rows: int
    seconds: float
    errors: tuple[ErrorRecord, ...] = ()
    checks: tuple[CheckResult, ...] = ()

    @property
    def partitions_written(self) -> int:
        """How many partition files this call (re)wrote."""
        return len(self.written)

    @property
    def partitions_skipped(self) -> int:
        """How many partitions were already up to date."""
        return len(self.skipped)

    def __str__(self) -> str:
        return (f"backfill {self.path}: {self.partitions_written} partitions written ({self.rows} rows), "
                f"{self.partitions_skipped} up to date, {self.seconds:.1f} s")


@dataclass(frozen=True)
class Partition:
    """One partition of the dataset: its key value, directory name, row count and the range of its ``as_of``."""

    value: Any
    name: str
    rows: int
    first: datetime | None
    last: datetime | None


@dataclass(frozen=True)
class Batch:
    """Consecutive partitions computed by one ``FrameDriver.evaluate`` (grouped up to ``batch_rows`` spine rows)."""

    partitions: tuple[Partition, ...]

    @property
    def first(self) -> datetime | None:
        """The earliest ``as_of`` of the batch."""
        return min((p.first for p in self.partitions if p.first is not None), default=None)

    @property
    def last(self) -> datetime | None:
        """The latest ``as_of`` of the batch."""
        return max((p.last for p in self.partitions if p.last is not None), default=None)


def batches(partitions: list[Partition], batch_rows: int) -> list[Batch]:
    """Group consecutive partitions while their rows add up to at most ``batch_rows`` (one at least)."""
    grouped: list[list[Partition]] = []
    total = 0
    for partition in partitions:
        if not grouped or total + partition.rows > batch_rows:
            grouped.append([])
            total = 0
        grouped[-1].append(partition)
        total += partition.rows
    return [Batch(tuple(group)) for group in grouped]


@dataclass
class Backfill:
    """A prepared backfill: the lazy spine and events, the partitions, and how to read and write each one."""

    frame: FrameEngine
    spine: pl.LazyFrame
    sources: dict[str, pl.LazyFrame]
    path: Path
    column: str  # the hive partition column (``as_of_date`` for days)
    key: pl.Expr  # the partition key of each spine row
    key_dtype: pl.DataType
    as_of: str
    partitions: list[Partition] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)  # sources given as Parquet paths (Ray tasks scan them)

    @classmethod
    def prepare(cls, frame: FrameEngine, spine: Any, sources: Mapping[str, Any] | None, path: str | Path,
                partition_by: str, as_of: str) -> Backfill:
        """Read the spine's partitions (one streaming pass: a row count and as-of range per key)."""
        if not isinstance(path, str | os.PathLike):
            raise InputTypeError("path", f"is a {type(path).__name__}, not a path",
                                 "pass the directory to write, e.g. path='features/'")
        lazy = lazy_frame(spine, "spine")
        schema = lazy.collect_schema()
        needs_as_of = as_of in schema or partition_by == "day"  # a missing one raises, naming the column
        instant = column_expr(schema, as_of, FType(datetime), "spine") if needs_as_of else None
        if instant is not None and partition_by == "day":
            column, key = f"{as_of}_date", instant.dt.date()
        elif partition_by in schema:
            column, key = partition_by, pl.col(partition_by)
            dtype = schema[partition_by]
            if not (dtype.is_integer() or isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Boolean
                                                      | pl.Date | pl.Datetime)):
                raise InputTypeError(partition_by, f"is a {dtype} column in the spine, which cannot name partitions",
                                     "partition by a str, int, bool, date or datetime column, or by 'day'")
        else:
            raise MissingInputError(partition_by, "is not a spine column, so the spine cannot be partitioned by it",
                                    "pass partition_by='day' or the name of a spine column")
        if sources is not None and not isinstance(sources, Mapping):
            raise InputTypeError("sources", f"is a {type(sources).__name__}, not a mapping of source name to events",
                                 "pass e.g. sources={'transactions': events}")
        given = dict(sources or {})
        lazy_sources = {name: lazy_frame(events, f"events of source '{name}'") for name, events in given.items()}
        job = cls(frame, lazy, lazy_sources, Path(path), column, key, pl.Null(), as_of)
        job.paths = {name: os.fspath(events) for name, events in given.items() if isinstance(events, str | os.PathLike)}
        when = instant if instant is not None else pl.lit(None, dtype=pl.Datetime("us", "UTC"))
        stats = (lazy.select(key.alias("key"), when.alias("when"))
                 .group_by("key").agg(pl.len(), pl.col("when").min().alias("first"), pl.col("when").max().alias("last"))
                 .sort("key", nulls_last=True).collect(engine="streaming"))
        outside = beyond_python(stats)
        if outside is not None:
            column = partition_by if outside[0] == "key" and partition_by != "day" else as_of
            raise InputError(column, "holds a date or instant outside years 1 to 9999 in the spine, which Python "
                             "cannot hold", "drop or repair those spine rows")
        job.key_dtype = stats.schema["key"]
        job.partitions = [Partition(value, f"{column}={partition_text(value)}", rows, first, last)
                          for value, rows, first, last in stats.iter_rows()]
        return job

    def rows(self, batch: Batch) -> pl.LazyFrame:
        """The batch's spine rows, in spine order, with their position in the whole spine (``__fdag_row``)."""
        values = [p.value for p in batch.partitions if p.value is not None]
        inside = self.key.is_in(pl.Series(values, dtype=self.key_dtype).implode())
        if len(values) < len(batch.partitions):
            inside = inside | self.key.is_null()
        return self.spine.with_row_index(ROW_INDEX).filter(inside)

    def compute(self, batch: Batch) -> tuple[pl.DataFrame, list[ErrorRecord], tuple[CheckResult, ...]]:
        """The batch's rows with their features (and ``__fdag_row``), the errors of computing them and its check
        results (recorded: the run loop acts on them)."""
        rows = self.rows(batch).collect(engine="streaming")
        events = {name: visible_events(self.frame.plan, name, lazy, batch, rows).collect(engine="streaming")
                  for name, lazy in self.sources.items()}
        with recording_checks():
            result = self.frame.evaluate(rows, sources=events, as_of=self.as_of, with_errors=True)
        return result.table, list(result.errors), result.checks

    def split(self, batch: Batch, result: pl.DataFrame) -> Iterator[tuple[Partition, pl.DataFrame, dict[str, int]]]:
        """A batch's result (with its ``<output>__error`` columns) cut into its partitions, each in spine order,
        without those columns, and with how many rows of the partition each output's function raised on."""
        errors = [f"{name}__error" for name in self.frame.plan.outputs]
        parts = result.with_columns(self.key.alias(_PART)).partition_by(_PART, as_dict=True, include_key=False)
        for partition in batch.partitions:
            rows = parts[(partition.value,)]
            counts = rows.select(pl.col(errors).is_not_null().sum()).row(0)
            yield (partition, rows.sort(ROW_INDEX).drop(ROW_INDEX, *errors),
                   dict(zip(self.frame.plan.outputs, counts, strict=True)))

    def file(self, partition: Partition) -> Path:
        """Where the partition's Parquet file lives."""
        return self.path / partition.name / PART_FILE

    def is_current(self, partition: Partition) -> bool:
        """The file exists and was written from the same code (versions) for the same spine rows."""
        file = self.file(partition)
        if not file.exists():
            return False
        try:
            recorded = json.loads(pl.read_parquet_metadata(file).get(METADATA_KEY, "{}"))
        except Exception:  # unreadable or foreign file: recompute it rather than trust it
            return False
        expected = self.metadata(partition)
        return all(recorded.get(name) == expected[name]
                   for name in ("outputs", "versions", "rows", "as_of_min", "as_of_max", "partition"))

    def metadata(self, partition: Partition, errors: Mapping[str, int] | None = None) -> dict[str, Any]:
        """The JSON stored under the file's ``fdag`` key: what made these rows, from which spine rows, and (when
        written) how many rows each output's function raised on (``errors``)."""
        plan = self.frame.plan
        return ({} if errors is None else {"errors": dict(errors)}) | {
            "fdag_version": __version__,
            "partition": {"column": self.column, "value": partition_text(partition.value)},
            "outputs": list(plan.outputs),
            "versions": dict(plan.versions),
            "lineage": {name: plan.lineage[name].to_dict() for name in plan.outputs},
            "as_of_min": None if partition.first is None else partition.first.isoformat(),
            "as_of_max": None if partition.last is None else partition.last.isoformat(),
            "rows": partition.rows,
        }

    def write(self, partition: Partition, rows: pl.DataFrame, errors: Mapping[str, int]) -> None:
        """Write the partition atomically: a hidden temporary file in the same directory, fsync, rename."""
        file = self.file(partition)
        file.parent.mkdir(parents=True, exist_ok=True)
        temporary = file.parent / f"{_TEMPORARY}{os.getpid()}.tmp"
        meta = json.dumps(self.metadata(partition, errors), sort_keys=True)
        write_parquet_atomically(rows, file, temporary, {METADATA_KEY: meta})

    def remove_temporaries(self) -> None:
        """Delete in-flight files a killed run left behind (they would break readers of the directory)."""
        for stale in self.path.glob(f"*/{_TEMPORARY}*.tmp"):
            stale.unlink(missing_ok=True)


def visible_events(plan: Plan, name: str, events: pl.LazyFrame, batch: Batch,
                   rows: pl.DataFrame | None = None) -> pl.LazyFrame:
    """The events of source ``name`` that the batch's windows and lookups can see: ``[first - longest window,
    last]``, with no lower bound when a lookup reads the source (its newest row may be arbitrarily old).

    Sources are cut to that time range (and, given ``rows``, to the keys those rows ask about); a source the
    plan does not read is passed whole. Nothing a window or lookup of the partition needs is ever cut.
    """
    source = plan.sources.get(name)
    if source is None:
        return events
    schema = events.collect_schema()
    stamp = schema.get(source.timestamp)
    if not isinstance(stamp, pl.Datetime):  # FrameDriver.evaluate names the problem
        return events
    if batch.first is None or batch.last is None:
        return events.head(0)
    ts = pl.col(source.timestamp)
    cut = events.filter(ts <= instant_literal(batch.last, stamp))
    if name not in plan.lookups:
        longest = max(spec.over for spec in plan.windows[name])
        cut = cut.filter(ts >= instant_literal(batch.first - longest, stamp))
    if rows is not None and source.key in rows.columns and _same_kind(rows.schema[source.key], schema.get(source.key)):
        keys = rows.get_column(source.key).cast(schema[source.key], strict=False).drop_nulls().unique()
        cut = cut.filter(pl.col(source.key).is_in(keys.implode()))
    return cut


def _same_kind(spine: pl.DataType, events: Any) -> bool:
    """Both integers or both text: spine keys then cast to the events' key dtype (others are refused later)."""
    text = (pl.String, pl.Categorical, pl.Enum)
    return events is not None and ((spine.is_integer() and events.is_integer())
                                   or (isinstance(spine, text) and isinstance(events, text)))


def lazy_frame(data: Any, what: str) -> pl.LazyFrame:
    """A LazyFrame over a frame (Polars, pandas, Arrow) or a Parquet file, directory or glob (scanned lazily)."""
    if isinstance(data, pl.LazyFrame):
        return data
    if isinstance(data, str | os.PathLike):
        return scan_parquet(data, what)
    if isinstance(data, pl.DataFrame):
        return data.lazy()
    try:
        return to_polars(data, what).lazy()
    except InputTypeError:
        raise InputTypeError(what, f"is a {type(data).__name__}",
                             "pass a Polars, pandas or Arrow frame, a LazyFrame or a Parquet path") from None


def partition_text(value: Any) -> str:
    """A partition value as it appears in a hive directory name (percent-encoded; null is Hive's default)."""
    if value is None:
        return NULL_PARTITION
    text = value.isoformat() if isinstance(value, date | datetime) else str(value)
    return quote(text, safe="")


def instant_literal(instant: datetime, dtype: pl.Datetime) -> pl.Expr:
    """``instant`` (UTC) as a literal comparable with a column of ``dtype`` (naive columns are read as UTC)."""
    literal = pl.lit(instant, dtype=pl.Datetime("us", "UTC"))
    if dtype.time_zone is None:
        return literal.dt.replace_time_zone(None)
    return literal.dt.convert_time_zone(dtype.time_zone)


def merge_errors(errors: list[ErrorRecord]) -> list[ErrorRecord]:
    """Sum the counts of identical (node, type, message) records, in order of first appearance."""
    counts: dict[tuple[str, str, str], int] = {}
    for e in errors:
        counts[(e.node, e.type, e.message)] = counts.get((e.node, e.type, e.message), 0) + e.count
    return [ErrorRecord(node, kind, message, count) for (node, kind, message), count in counts.items()]
