"""Spines and event frames in: any of Polars, pandas, Arrow or Parquet, checked and cast to the declared types.

A pandas column of Python objects (numpy scalars, ``pd.NA``, Timestamps, Decimals, mixed with Python values)
is read value by value with ``native_value``, the rule requests and events follow online, so a value means
the same in a spine as in a request.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl
from polars.datatypes import DataTypeClass

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
            raise _unreadable(what, frame, exc) from None
    # Only modules already imported can have made ``frame``: pandas and pyarrow are not imported for the test.
    pandas, arrow = sys.modules.get("pandas"), sys.modules.get("pyarrow")
    if pandas is not None and isinstance(frame, pandas.DataFrame):
        return _from_pandas(frame)
    if arrow is not None and isinstance(frame, arrow.Table | arrow.RecordBatch):
        return pl.DataFrame(pl.from_arrow(frame))
    raise InputTypeError(what, f"is a {type(frame).__name__}", "pass a Polars, pandas or Arrow frame or a Parquet path")


def scan_parquet(path: str | os.PathLike[str], what: str) -> pl.LazyFrame:
    """A lazy scan of a Parquet file, directory or glob whose schema could be read (an ``InputError`` if not)."""
    try:
        scan = pl.scan_parquet(os.fspath(path))
        scan.collect_schema()
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise _unreadable(what, path, exc) from None
    return scan


def parquet_metadata(file: str | os.PathLike[str], key: str) -> dict[str, Any]:
    """The JSON object fdag stored under ``key`` in a Parquet file's metadata ({} if none); ``InputError`` for a
    file that is not readable Parquet or holds no JSON object there."""
    try:
        meta = json.loads(pl.read_parquet_metadata(os.fspath(file)).get(key, "{}"))
    except (OSError, ValueError, pl.exceptions.PolarsError) as exc:  # json's errors are ValueErrors
        raise _unreadable(f"file {os.fspath(file)}", file, exc) from None
    return meta if isinstance(meta, dict) else {}


def beyond_python(frame: pl.DataFrame) -> tuple[str, int] | None:
    """The first (column, row) holding an instant or date outside years 1 to 9999, or None.

    Polars holds such values, Python's ``datetime`` cannot: a frame read row by row (events, history, snapshot
    rows kept online) must not have them, at the top level or inside a list, array or struct.
    """
    for column, dtype in frame.schema.items():
        outside = _outside_python(pl.col(column), dtype)
        if outside is None:
            continue
        rows = frame.select(outside).to_series().arg_true()
        if len(rows):
            return column, int(rows[0])
    return None


def _outside_python(values: pl.Expr, dtype: pl.DataType | DataTypeClass) -> pl.Expr | None:
    """Per row, whether ``values`` (of ``dtype``) holds an instant or date outside years 1 to 9999 (None: it holds
    no instant or date at all)."""
    if isinstance(dtype, pl.Datetime | pl.Date):
        years = [values.dt.year()]
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:  # read as UTC, shown in its zone
            years.append(values.dt.convert_time_zone("UTC").dt.year())
        return pl.any_horizontal([(y < 1) | (y > 9999) for y in years])
    if isinstance(dtype, pl.List | pl.Array):
        inner = _outside_python(pl.element(), dtype.inner)
        if inner is None:
            return None
        listed = values.arr.to_list() if isinstance(dtype, pl.Array) else values
        return listed.list.eval(inner).list.any()
    if isinstance(dtype, pl.Struct):
        fields = [found for field in dtype.fields
                  if (found := _outside_python(values.struct.field(field.name), field.dtype)) is not None]
        return pl.any_horizontal(fields) if fields else None
    return None


def _unreadable(what: str, path: str | os.PathLike[str], exc: Exception) -> InputError:
    """The error for a path that holds no readable Parquet."""
    return InputError(what, f"is the path {os.fspath(path)!r}, which holds no readable Parquet ({exc})",
                      "pass the path of a Parquet file, directory or glob, or a frame")


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
        except (TypeError, ValueError, OverflowError, pl.exceptions.PolarsError, pl.exceptions.PanicException):
            pass
    return pl.Series(name, values, dtype=pl.Object())


def column_expr(frame_schema: Mapping[str, pl.DataType], column: str, ftype: FType, what: str) -> pl.Expr:
    """``column`` cast to ``ftype``'s canonical dtype: UTC microsecond datetimes, NaN as null, exact ints.

    Raises ``InputTypeError`` naming the column when its dtype cannot hold the declared type without guessing.
    """
    if column not in frame_schema:
        have = ", ".join(c for c in frame_schema if not c.startswith("__fdag_")) or "no columns"  # not fdag's own
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
    if ftype.base is list and isinstance(dtype, pl.List) and _admits(dtype.inner, ftype.item, what):
        return expr.cast(target)
    if dtype == pl.Object:
        raise InputTypeError(column, f"holds values of mixed or unsupported types (or naive and aware instants) in "
                             f"the {what} but is declared '{ftype}'", f"give the column {ftype.required()} values "
                             "(numpy scalars, pd.NA and pandas Timestamps are read as their Python values)")
    raise InputTypeError(column, f"is a {dtype} column in the {what} but is declared '{ftype}'",
                         f"cast the column to {target} before passing it")


def _admits(dtype: Any, ftype: FType | None, what: str) -> bool:
    """Whether list items of ``dtype`` are read as ``ftype`` by the rules of ``column_expr`` (no parsing of text)."""
    if ftype is None:
        return False
    try:
        column_expr({"item": dtype}, "item", ftype, what)
    except InputTypeError:
        return False
    return True


def refuse_int64_overflow(frame: pl.DataFrame, wanted: Mapping[str, FType], what: str) -> None:
    """Raise ``InputTypeError`` for an unsigned 64-bit column (or list column) read as int that holds a value
    above int64's range: the cast ``column_expr`` makes would fail inside Polars, without naming the input."""
    for column, ftype in wanted.items():
        dtype: Any = frame.schema.get(column)
        values = pl.col(column)
        if isinstance(dtype, pl.List) and ftype.base is list and ftype.item is not None:
            dtype, ftype, values = dtype.inner, ftype.item, values.list.max()
        if dtype == pl.UInt64 and ftype.base is int:
            largest = frame.select(values.max()).item()
            if largest is not None and largest > INT64_MAX:
                raise InputTypeError(column, f"holds {largest} in the {what}, which does not fit in int64",
                                     "keep ints within int64, as requests must")
