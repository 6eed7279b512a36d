"""As-of in the vectorized engine: each output's as-of per row, and the leakage guard (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import polars as pl

from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag._values.frames import ROW
from fdag.errors import PointInTimeError

UTC_MICROS = pl.Datetime("us", "UTC")


def as_of_columns(plan: Plan, watermarks: Mapping[str, datetime | None]) -> dict[str, pl.Expr]:
    """Output → its as-of: the row's ``as_of`` capped by every upstream source's watermark and by the time of
    every row an upstream lookup read (a lookup clock is a column of the working frame); null when unknown."""
    columns = {}
    for name in plan.outputs:
        instant = pl.col(AS_OF)
        for clock in sorted(plan.clocks.get(name, ())):
            if clock in plan.sources:
                watermark = watermarks.get(clock)
                limit = pl.lit(None, UTC_MICROS) if watermark is None else pl.lit(watermark, UTC_MICROS)
            else:
                limit = pl.col(clock)
            # min_horizontal skips nulls; an unknown clock makes the as-of unknown.
            instant = pl.when(limit.is_null()).then(None).otherwise(pl.min_horizontal(instant, limit))
        columns[name] = instant
    return columns


def guard(result: pl.DataFrame, as_of: Mapping[str, pl.Expr], spine: pl.DataFrame) -> None:
    """Raise ``PointInTimeError`` if any output's as-of is after its row's ``as_of`` (a value from the future)."""
    if not as_of:
        return
    leaks = result.select(pl.col(ROW), AS_OF, **{name: expr > pl.col(AS_OF) for name, expr in as_of.items()})
    for name in as_of:
        rows = leaks.filter(pl.col(name))
        if not rows.is_empty():
            row = rows[ROW][0]
            raise PointInTimeError(
                f"feature '{name}' has {rows.height} values whose as-of is after their row's as_of, first at "
                f"spine row {row} ({spine.row(row, named=True)}). Hint: this is a leak of future data into "
                "training; report it with this row."
            )
