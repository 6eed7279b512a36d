"""One feature as Polars expressions: translated exactly when possible, else an exact per-row fallback.

Every feature becomes two columns: its value and ``__err__<name>`` (where Python would have raised on a row:
"Type\\x1fmessage", or a code into the feature's ``messages``; else null). The value is null where a
non-optional argument is null or an error occurred, so the vectorized result follows the per-row call
rules (a null argument skips the feature, an error makes it null and is recorded) exactly like the row engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

from fdag._frame.translate import Read, Translation, translate
from fdag._values.calls import row_call
from fdag._values.types import FType
from fdag.errors import NotTranslatable

ERROR_PREFIX = "__err__"
SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Compiled:
    """A feature's expressions in two stages: ``first`` (errors, fallback results) then ``then`` (the value)."""

    name: str
    first: tuple[pl.Expr, ...]
    then: tuple[pl.Expr, ...]
    can_fail: bool  # whether an ``__err__`` column is made
    how: str  # "translated" or "fallback"
    reason: str  # why it fell back ("" when translated)
    messages: tuple[str, ...] = ()  # "Type\x1fmessage" per error code, when the error column holds codes
    reads: tuple[Read, ...] = ()  # outside names the translation built in (a fallback reads them live)


def compile_feature(
    name: str,
    function: Callable[..., Any],
    params: Mapping[str, FType],
    returns: FType,
    schema: Mapping[str, pl.DataType],
) -> Compiled:
    """Expressions computing ``function`` over columns named like its parameters (dtypes in ``schema``)."""
    try:
        translation = translate(function, params, returns)
        actual = pl.LazyFrame(schema=dict(schema)).select(translation.value.alias(name)).collect_schema()[name]
        if actual != returns.polars and actual != pl.Null and not (returns.base is float and actual.is_numeric()):
            raise NotTranslatable(f"the translation yields {actual}, not the declared {returns.polars}")
        return _translated(name, translation, params, returns)
    except NotTranslatable as exc:
        return _fallback(name, function, params, returns, exc.reason)


def error_column(name: str) -> str:
    """The hidden column holding a feature's per-row errors."""
    return f"{ERROR_PREFIX}{name}"


def error_counts(table: pl.DataFrame, compiled: Compiled, row: str) -> list[tuple[str, str, int, int]]:
    """``(exception type, message, rows, first row)`` per distinct error of ``compiled`` in ``table`` (which holds
    its error column and the row-number column ``row``), in the order each first occurs."""
    column = error_column(compiled.name)
    failed = table.select(row, column).filter(pl.col(column).is_not_null())
    counts = failed.group_by(column, maintain_order=True).agg(pl.len(), pl.col(row).min())
    found = []
    for error, count, first in counts.iter_rows():
        text = compiled.messages[error] if compiled.messages else error
        kind, _, message = text.partition(SEPARATOR)
        found.append((kind, message, count, first))
    return found


def error_text(compiled: Compiled) -> pl.Expr:
    """A feature's per-row error as ``"Type: message"`` (null where it did not raise), from its error column."""
    column = pl.col(error_column(compiled.name))
    if compiled.messages:
        texts = [text.replace(SEPARATOR, ": ") for text in compiled.messages]
        return column.replace_strict(list(range(len(texts))), texts, default=None, return_dtype=pl.String)
    return column.str.replace(SEPARATOR, ": ", literal=True)


def _null_guard(params: Mapping[str, FType]) -> pl.Expr | None:
    required = [pl.col(p).is_null() for p, ftype in params.items() if not ftype.optional]
    return pl.any_horizontal(required) if required else None


def _canonical(value: pl.Expr, returns: FType) -> pl.Expr:
    value = value.cast(returns.polars)
    return value.fill_nan(None) if returns.base is float else value


def _translated(name: str, translation: Translation, params: Mapping[str, FType], returns: FType) -> Compiled:
    guard = _null_guard(params)
    error: pl.Expr | None = None
    if translation.errors:
        # Small integer codes, not strings: a million-row column of codes costs next to nothing.
        chain: Any = pl
        for code, (condition, _, _) in enumerate(translation.errors):
            reached = condition.fill_null(False) if guard is None else (~guard & condition.fill_null(False))
            chain = chain.when(reached).then(pl.lit(code, pl.UInt16))
        error = chain.otherwise(pl.lit(None, pl.UInt16))
    messages = tuple(f"{kind}{SEPARATOR}{message}" for _, kind, message in translation.errors)
    skip = guard
    if error is not None:
        failed = pl.col(error_column(name)).is_not_null()
        skip = failed if skip is None else (skip | failed)
    value = _canonical(translation.value, returns)
    if skip is not None:
        value = pl.when(skip).then(pl.lit(None, returns.polars)).otherwise(value)
    first = () if error is None else (error.alias(error_column(name)),)
    return Compiled(name, first, (value.alias(name),), error is not None, "translated", "", messages,
                    translation.reads)


def _fallback(name: str, function: Callable[..., Any], params: Mapping[str, FType], returns: FType,
              reason: str) -> Compiled:
    call = row_call(function, params, returns)
    dtype = returns.polars
    columns = list(params)

    def evaluate(batch: pl.Series) -> pl.Series:
        if columns:
            frame = batch.struct.unnest()
            rows: Any = zip(*(frame[c].to_list() for c in columns), strict=True)
        else:
            rows = ([] for _ in range(len(batch)))
        values, errors = [], []
        for args in rows:
            value, error = call(args)
            values.append(value)
            errors.append(None if error is None else f"{type(error).__name__}{SEPARATOR}{error}")
        return pl.DataFrame([pl.Series("v", values, dtype=dtype), pl.Series("e", errors, dtype=pl.String)]
                            ).to_struct(name)

    inputs = pl.struct([pl.col(c) for c in columns]) if columns else pl.struct(pl.int_range(pl.len()).alias("_"))
    packed = inputs.map_batches(evaluate, return_dtype=pl.Struct({"v": dtype, "e": pl.String}))
    staged = pl.col(f"__fallback__{name}")
    return Compiled(
        name,
        (packed.alias(f"__fallback__{name}"),),
        (_canonical(staged.struct.field("v"), returns).alias(name), staged.struct.field("e").alias(error_column(name))),
        True,
        "fallback",
        reason,
    )
