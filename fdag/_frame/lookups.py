"""Lookup features in the vectorized engine: an as-of join of each request onto the newest row of its key.

For a request at ``as_of`` a lookup reads the newest row of its key with ``ts <= as_of - lag`` (Polars'
``join_asof``, strategy "backward", which includes equal timestamps). The rows are prepared so that this join
has one answer: duplicates by id keep their earliest copy (by timestamp, then frame order; as windows do),
and among rows of one key at one timestamp only the newest survives — by id, or the last in frame order
without ids — whatever its value, so a null value is read as null and an older row never stands in for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import polars as pl

from fdag._dag.node import AS_OF
from fdag._dag.specs import LookupSpec
from fdag._declare.source import Source
from fdag._frame.point_in_time import earliest_copies
from fdag._values.frames import ROW

_ORDER, _CUTOFF = "__lookup_order", "__lookup_cutoff"
ROW_TS = "__lookup_ts"  # the timestamp of the row a lookup reads
_UTC_MICROS = pl.Datetime("us", "UTC")


def as_of_column(node: str) -> str:
    """The working-frame column holding the as-of of lookup ``node``'s value (not a valid node name)."""
    return f"__as_of__:{node}"


def lookup_frame(specs: Sequence[LookupSpec], events: pl.LazyFrame, requests: pl.LazyFrame,
                 watermark: datetime | None) -> pl.LazyFrame:
    """Every lookup spec of one source for every request: ``__row``, then per spec its value and as-of columns.

    ``events`` holds the source's key, timestamp, optional id and each spec's ``value_column``; ``requests``
    holds ``__row``, the key column and ``as_of`` without nulls. ``watermark`` (the source's largest timestamp)
    bounds the as-of of a default: how far the events are known to hold no newer row.
    """
    source = specs[0].source
    key = source.key
    rows = newest_rows(source, events, [spec.value_column for spec in specs])
    result = requests.select(ROW)
    for lag in dict.fromkeys(spec.lag for spec in specs):
        read = [spec for spec in specs if spec.lag == lag]
        asks = requests.select(ROW, key, (pl.col(AS_OF) - lag).alias(_CUTOFF)).sort(_CUTOFF)
        joined = asks.join_asof(rows.select(key, ROW_TS, *(spec.value_column for spec in read)),
                                left_on=_CUTOFF, right_on=ROW_TS, by=key, strategy="backward",
                                check_sortedness=False, coalesce=False)
        columns = [column for spec in read for column in _value_and_as_of(spec, watermark)]
        result = result.join(joined.select(ROW, *columns), on=ROW, how="left")
    return result


def newest_rows(source: Source, events: pl.LazyFrame, columns: list[str]) -> pl.LazyFrame:
    """The rows a lookup may read, sorted by timestamp: the earliest copy of each id, then only the newest row of
    each key at each timestamp (by id, or the last in frame order). Columns: the key, ``__lookup_ts``, the id
    (if the source has ids) and ``columns``."""
    key, stamp = source.key, source.timestamp
    return (
        events.with_row_index(_ORDER)
        .filter(earliest_copies(source))
        .sort(key, stamp, source.id or _ORDER)
        .unique([key, stamp], keep="last", maintain_order=True)
        .select(key, pl.col(stamp).alias(ROW_TS), *([source.id] if source.id else []), *columns)
        .sort(ROW_TS)
    )


def _value_and_as_of(spec: LookupSpec, watermark: datetime | None) -> tuple[pl.Expr, pl.Expr]:
    """The spec's value (the row's, or the default when no row is fresh enough) and that value's as-of."""
    fresh = pl.col(ROW_TS).is_not_null()
    if spec.max_age is not None:
        fresh = fresh & (pl.col(ROW_TS) >= pl.col(_CUTOFF) - _exact(spec.max_age))
    dtype = spec.returns.polars
    value = pl.when(fresh).then(pl.col(spec.value_column)).otherwise(pl.lit(spec.default, dtype=dtype))
    if spec.returns.base is float:
        value = value.fill_nan(None)
    if spec.default is None or watermark is None:
        unknown = pl.lit(None, dtype=_UTC_MICROS)
    else:
        unknown = pl.min_horizontal(pl.col(_CUTOFF), pl.lit(watermark, dtype=_UTC_MICROS))
    as_of = pl.when(fresh).then(pl.col(ROW_TS)).otherwise(unknown)
    return value.cast(dtype).alias(spec.node), as_of.alias(as_of_column(spec.node))


def _exact(duration: timedelta) -> pl.Expr:
    """A duration literal in microseconds (never a calendar unit)."""
    return pl.lit(duration, dtype=pl.Duration("us"))
