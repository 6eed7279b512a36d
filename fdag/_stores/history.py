"""Load a history frame into window state, vectorised: validate, dedup, filter and sort in Polars.

The fast path never touches rows in Python: the caller passes each value column precomputed as a Series
aligned with the frame. A value column not given is computed row by row (each row checked and normalised
like an ingested event, then passed to the value function) — correct, but per-row Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from fdag._declare.source import Source
from fdag._stores.event_values import EventValues, Failures
from fdag._stores.events import EventChecker
from fdag._values.calls import ErrorRecord, error_records
from fdag._values.frames import beyond_python
from fdag.errors import SourceError

_NO_WATERMARK = -(2**63)
_ROW, _KEY, _TS, _ID = "__fdag_row", "__fdag_key", "__fdag_ts", "__fdag_id"


@dataclass(frozen=True)
class Loaded:
    """History rows to place, sorted by (key, timestamp, id or row), with per-key row ranges."""

    groups: list[tuple[Any, int, int]]  # (key, start, end)
    ts: list[int]
    ids: list[Any] | None
    values: list[list[Any]]  # per value column
    duplicates: int  # rows whose id the state already held
    too_late: int  # rows older than the retention horizon
    newest_late: int | None  # the newest timestamp (µs) of those, None if there are none
    oldest: int | None  # the oldest timestamp (µs) of the rows to place, None if there are none


@dataclass(frozen=True)
class History:
    """A validated history frame without rows beyond ``max_future``, deduplicated by id (the earliest copy wins, by
    timestamp and then frame order), not yet
    filtered by the retention horizon or sorted."""

    frame: pl.DataFrame  # columns: row, key, ts (µs), id (if any), value columns that were given
    computed: dict[int, list[Any]]  # value-column position -> per-row values computed by the value functions
    columns: int
    duplicates: int
    future: int  # rows dated beyond the source's max_future, dropped
    latest: int  # the largest timestamp (µs), or _NO_WATERMARK for an empty frame
    errors: tuple[ErrorRecord, ...] = ()  # of the value functions, over every row of the frame

    def filter(self, horizon: int, seen: set[Any] | None) -> Loaded:
        """Rows with timestamp >= ``horizon`` and an id not in ``seen``, sorted and grouped by key."""
        stamps = self.frame.get_column(_TS)
        frame = self.frame.filter(stamps >= horizon)
        too_late = self.frame.height - frame.height
        newest_late = stamps.filter(stamps < horizon).max() if too_late else None
        duplicates = 0
        if seen:
            before = frame.height
            frame = frame.filter(~pl.col(_ID).is_in(pl.Series(list(seen), dtype=frame.schema[_ID]).implode()))
            duplicates = before - frame.height
        has_ids = _ID in frame.columns
        frame = frame.sort([_KEY, _TS, _ID if has_ids else _ROW])
        rows = frame.get_column(_ROW).to_list() if self.computed else []
        values = [
            [self.computed[j][r] for r in rows] if j in self.computed else frame.get_column(f"__fdag_v{j}").to_list()
            for j in range(self.columns)
        ]
        sizes = frame.group_by(_KEY, maintain_order=True).len()
        groups, start = [], 0
        for key, size in sizes.iter_rows():
            groups.append((key, start, start + size))
            start += size
        return Loaded(groups, frame.get_column(_TS).to_list(), frame.get_column(_ID).to_list() if has_ids else None,
                      values, duplicates, too_late, newest_late, frame.get_column(_TS).min())  # type: ignore[arg-type]


def prepare_history(
    source: Source,
    checker: EventChecker,
    columns: Sequence[str],
    functions: EventValues,
    frame: pl.DataFrame,
    values: Mapping[str, pl.Series] | None,
) -> History:
    """Validate ``frame`` (raising ``SourceError`` with the row number) and build its ``History``.

    Rows dated beyond ``max_future`` go first, before deduplication, as ``ingest`` skips them before it
    looks at ids: a later copy of the id with a sane timestamp is then kept.
    """
    if not isinstance(frame, pl.DataFrame):
        raise SourceError(source.name, f"history is a {type(frame).__name__}, not a Polars DataFrame",
                          "convert it with pl.DataFrame(...) or pl.from_arrow(...)")
    outside = beyond_python(frame.select(c for c in frame.columns if c in source.schema))
    if outside is not None:
        raise SourceError(source.name, "is outside years 1 to 9999, which Python's datetime cannot hold",
                          "drop or repair the row", column=outside[0], where=f"history row {outside[1]}")
    values = dict(values or {})
    unknown = sorted(set(values) - set(columns))
    if unknown:
        raise SourceError(source.name, f"values= names {unknown}, which no window spec reads",
                          f"use the specs' value columns: {', '.join(columns)}")
    selected = [pl.int_range(pl.len(), dtype=pl.Int64).alias(_ROW),
                _role(frame, source, source.key, _KEY), _role(frame, source, source.timestamp, _TS)]
    if source.id:
        selected.append(_role(frame, source, source.id, _ID))
    given = [pl.Series(f"__fdag_v{j}", _canonical(source, values[column], frame.height, column))
             for j, column in enumerate(columns) if column in values]
    computed: dict[int, list[Any]] = {}
    failures: Failures = []
    if len(values) < len(columns):
        checked = checker.check(frame.iter_rows(named=True))  # the slow path: row checks as for events
        events = [event for _, _, _, event in checked]
        computed = functions.columns([j for j, column in enumerate(columns) if column not in values], events,
                                     failures)
    work = frame.select(selected).with_columns(given)
    dated = work.height
    work = work.filter(pl.col(_TS) <= checker.future_cutoff())
    before = work.height
    if source.id:  # a history has no arrival order: its earliest copy of an id counts, as offline
        work = work.filter(pl.col(_TS) == pl.col(_TS).min().over(_ID)).filter(pl.col(_ID).is_first_distinct())
    latest = work.get_column(_TS).max()
    return History(work, computed, len(columns), before - work.height, dated - before,
                   _NO_WATERMARK if latest is None else int(latest),  # type: ignore[arg-type]
                   error_records(failures))


def _role(frame: pl.DataFrame, source: Source, column: str, alias: str) -> pl.Expr:
    """The key, timestamp (as µs since the epoch, UTC) or id column, type-checked and null-checked."""
    if column not in frame.columns:
        raise SourceError(source.name, f"is missing from the history (it has: {', '.join(frame.columns)})",
                          "the frame needs the key, timestamp and id columns", column=column)
    dtype = frame.schema[column]
    base = source.schema[column].base
    if column == source.timestamp:
        ok, expr = isinstance(dtype, pl.Datetime), pl.col(column).dt.epoch("us")
    elif base is str:
        ok = dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum)
        expr = pl.col(column).cast(pl.String)
    else:
        ok, expr = dtype.is_integer(), pl.col(column).cast(pl.Int64)
    if not ok:
        raise SourceError(source.name, f"has dtype {dtype} in the history but the schema says {base.__name__}",
                          f"cast the column, e.g. pl.col('{column}').cast(...)", column=column)
    nulls = frame.get_column(column).is_null().arg_true()
    if len(nulls):
        raise SourceError(source.name, "is null", "every event needs its key, timestamp and id; drop or repair the "
                          "row", column=column, where=f"history row {nulls[0]}")
    return expr.alias(alias)


def _canonical(source: Source, series: pl.Series, height: int, column: str) -> pl.Series:
    """A precomputed value column, with NaN read as null as everywhere in fdag."""
    if len(series) != height:
        raise SourceError(source.name, f"values['{column}'] has {len(series)} rows but the history has {height}",
                          "precompute value columns on the same frame, row for row")
    return series.fill_nan(None) if series.dtype.is_float() else series
