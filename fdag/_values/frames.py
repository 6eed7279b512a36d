"""Spines and event frames in: any of Polars, pandas or Arrow, checked and cast to the declared types."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from fdag._values.types import FType
from fdag.errors import InputTypeError, MissingInputError

ROW = "__row"  # the spine's row position in the working frame: joins and ordering go through it


def to_polars(frame: Any, what: str) -> pl.DataFrame:
    """A Polars DataFrame from a Polars (lazy or eager), pandas or Arrow frame."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    module = type(frame).__module__
    if module.startswith("pandas"):
        return pl.from_pandas(frame)
    if module.startswith("pyarrow"):
        converted = pl.from_arrow(frame)
        if isinstance(converted, pl.DataFrame):
            return converted
    raise InputTypeError(what, f"is a {type(frame).__name__}", "pass a Polars, pandas or Arrow frame")


def column_expr(frame_schema: Mapping[str, pl.DataType], column: str, ftype: FType, what: str) -> pl.Expr:
    """``column`` cast to ``ftype``'s canonical dtype: UTC microsecond datetimes, NaN as null, exact ints.

    Raises ``InputTypeError`` naming the column when its dtype cannot hold the declared type without guessing.
    """
    if column not in frame_schema:
        have = ", ".join(frame_schema) or "no columns"
        raise MissingInputError(column, f"is missing from the {what} (it has: {have})",
                                f"add a '{column}' column of type {ftype.required()}")
    dtype = frame_schema[column]
    target = ftype.polars
    expr = pl.col(column)
    if dtype == pl.Null:
        return expr.cast(target)
    base = ftype.base.__name__
    if ftype.base is float and dtype.is_numeric():
        return expr.cast(pl.Float64).fill_nan(None)
    if ftype.base is int and dtype.is_integer():
        return expr.cast(pl.Int64, strict=True)
    if ftype.base is str and (dtype == pl.String or isinstance(dtype, pl.Enum | pl.Categorical)):
        return expr.cast(pl.String)
    if ftype.base is bool and dtype == pl.Boolean:
        return expr
    if base == "datetime" and isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            expr = expr.dt.replace_time_zone("UTC")
        return expr.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    if base == "date" and dtype == pl.Date:
        return expr
    if base == "timedelta" and isinstance(dtype, pl.Duration):
        return expr.cast(pl.Duration("us"))
    if ftype.base is list and isinstance(dtype, pl.List):
        return expr.cast(target)
    raise InputTypeError(column, f"is a {dtype} column in the {what} but is declared '{ftype}'",
                         f"cast the column to {target} before passing it")
