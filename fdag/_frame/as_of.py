"""As-of in the vectorized engine: each output's as-of per row, and the leakage guard."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from fdag._dag.node import AS_OF
from fdag._dag.plan import Clocks, Plan
from fdag._frame.lookups import as_of_column
from fdag._values.frames import ROW
from fdag.errors import PointInTimeError

UTC_MICROS = pl.Datetime("us", "UTC")


def as_of_columns(plan: Plan, watermarks: Mapping[str, datetime | None]) -> dict[str, pl.Expr]:
    """Output → its as-of: the row's ``as_of`` capped by every upstream window source's watermark and by the
    as-of of every upstream lookup value (a column of the working frame); null when unknown."""
    columns = {}
    for name in plan.outputs:
        instant = pl.col(AS_OF)
        clocks = plan.clocks.get(name, Clocks())
        limits = [pl.lit(watermarks.get(source), UTC_MICROS) for source in sorted(clocks.sources)]
        limits += [pl.col(as_of_column(node)) for node in sorted(clocks.lookups)]
        for limit in limits:
            # min_horizontal skips nulls; an unknown clock (this one or an earlier) makes the as-of unknown.
            unknown = limit.is_null() | instant.is_null()
            instant = pl.when(unknown).then(None).otherwise(pl.min_horizontal(instant, limit))
        columns[name] = instant
    return columns


def guard(result: pl.DataFrame, as_of: Mapping[str, pl.Expr], spine: pl.DataFrame) -> None:
    """Raise ``PointInTimeError`` if any output's as-of is after its row's ``as_of`` (a value from the future)."""
    # an output that reads no source and no lookup has the row's own as_of: it cannot be after it
    as_of = {name: expr for name, expr in as_of.items() if not expr.meta.eq(pl.col(AS_OF))}
    if not as_of:
        return
    leaks = result.select(pl.col(ROW), AS_OF, **{name: expr > pl.col(AS_OF) for name, expr in as_of.items()})
    for name in as_of:
        rows = leaks.filter(pl.col(name))
        if not rows.is_empty():
            row = rows[ROW][0]
            raise PointInTimeError(name, f"has {rows.height} values whose as-of is after their row's as_of, first "
                                   f"at spine row {row} ({spine.row(row, named=True)})",
                                   "this is a leak of future data into training; report it with this row")
