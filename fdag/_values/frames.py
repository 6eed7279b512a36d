"""Spines and event frames in: any of Polars, pandas, Arrow or Parquet, checked and cast to the declared types.

A pandas column of Python objects (numpy scalars, ``pd.NA``, Timestamps, Decimals, mixed with Python values)
is read value by value with ``native_value``, the rule requests and events follow online, so a value means
the same in a spine as in a request.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from fdag._values.types import INT64_MAX, INT64_MIN, FType, native_value
from fdag.errors import InputError, InputTypeError, MissingInputError

ROW = "__row"  # the spine's row position in the working frame: joins and ordering go through it

# The Polars dtype of an object column by the Python types of its values (an int next to a float is a float).
_OBJECT_DTYPES: dict[frozenset[type], pl.DataType] = {
    frozenset(): pl.Null(),
    frozenset({bool}): pl.Boolean(),
    frozenset({int}): pl.Int64(),
    frozenset({float}): pl.Float64(),
    frozenset({int, float}): pl.Float64(),
    frozenset({str}): pl.String(),
    frozenset({datetime}): pl.Datetime("us", "UTC"),
    frozenset({date}): pl.Date(),
    frozenset({timedelta}): pl.Duration("us"),
}


def to_polars(frame: Any, what: str) -> pl.DataFrame:
    """A Polars DataFrame from a Polars (lazy or eager), pandas or Arrow frame, or a Parquet path."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if isinstance(frame, str | os.PathLike):
        try:
            return pl.read_parquet(os.fspath(frame))
        except (OSError, pl.exceptions.PolarsError) as exc:
            raise InputError(what, f"is the path {os.fspath(frame)!r}, which holds no readable Parquet ({exc})",
                             "pass the path of a Parquet file, directory or glob, or a frame") from None
    module = type(frame).__module__
    if module.startswith("pandas"):
        return _from_pandas(frame)
    if module.startswith("pyarrow"):
        converted = pl.from_arrow(frame)
        if isinstance(converted, pl.DataFrame):
            return converted
    raise InputTypeError(what, f"is a {type(frame).__name__}", "pass a Polars, pandas or Arrow frame or a Parquet path")


def _from_pandas(frame: Any) -> pl.DataFrame:
    """A pandas frame in Polars: typed columns as Polars converts them, object columns value by value."""
    objects = [column for column, dtype in frame.dtypes.items() if str(dtype) == "object"]
    if not objects:
        return pl.from_pandas(frame)
    typed = pl.from_pandas(frame.drop(columns=objects)) if len(objects) < frame.shape[1] else pl.DataFrame()
    return pl.DataFrame([_object_column(frame[c], str(c)) if c in objects else typed.get_column(str(c))
                         for c in frame.columns])


def _object_column(series: Any, name: str) -> pl.Series:
    """A pandas object column as a Polars Series typed by its values' Python types (read with ``native_value``).

    Values of mixed or unsupported types stay Python objects: ``column_expr`` refuses them if the column is read.
    So do instants mixing naive and aware ones: a column has one clock (Polars and pandas refuse the mix too).
    """
    given = series.tolist()
    values = [native_value(v) for v in given]
    kinds = frozenset(type(v) for v in values if v is not None)
    dtype = _OBJECT_DTYPES.get(kinds)
    if kinds == {datetime} and len({getattr(v, "tzinfo", None) is None for v, n in zip(given, values, strict=True)
                                    if n is not None}) > 1:
        dtype = None
    if dtype == pl.Int64() and not all(INT64_MIN <= v <= INT64_MAX for v in values if v is not None):
        dtype = pl.Float64()  # beyond int64: no int column can take it, a float column reads it as a float
    if dtype is not None or kinds == {list}:
        try:
            if dtype == pl.Float64():
                values = [float(v) if v.__class__ is int else v for v in values]
            return pl.Series(name, values, dtype=dtype, strict=True)
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError):
            pass
    return pl.Series(name, values, dtype=pl.Object())


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
        if dtype.time_unit == "ns":  # truncate towards the past, as instants are (Polars' cast rounds to zero)
            return (expr.cast(pl.Int64) // 1000).cast(pl.Duration("us"))
        return expr.cast(pl.Duration("us"))
    if ftype.base is list and isinstance(dtype, pl.List):
        return expr.cast(target)
    if dtype == pl.Object:
        raise InputTypeError(column, f"holds values of mixed or unsupported types (or naive and aware instants) in "
                             f"the {what} but is declared '{ftype}'", f"give the column {ftype.required()} values "
                             "(numpy scalars, pd.NA and pandas Timestamps are read as their Python values)")
    raise InputTypeError(column, f"is a {dtype} column in the {what} but is declared '{ftype}'",
                         f"cast the column to {target} before passing it")
