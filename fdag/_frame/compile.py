"""One feature as Polars expressions: translated exactly when possible, else an exact per-row fallback.

Every feature becomes two columns: its value and ``__err__<name>`` (where Python would have raised on a row:
"Type\\x1fmessage", or a code into the feature's ``messages``; else null). The value is null where a
non-optional argument is null or an error occurred, so the vectorized result follows the per-row call
rules (a null argument skips the feature, an error makes it null and is recorded) exactly like the row engine.

A feature that can fail is computed in two steps: its raw value and its error column in one ``with_columns``,
so that Polars computes what the two share once (its common-subexpression elimination works within one
context), then the value nulled where the row raised or was skipped. Sub-expressions the translation marks as
shared (``lets``: a ``math.exp`` result its overflow check also reads, ...) are computed before, as columns of
their own, since Polars does not share a sub-expression nested inside another shared one.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

import polars as pl

from fdag._dag.specs import Argument
from fdag._frame.translate import Read, Translation, translate, with_lets
from fdag._values.calls import row_call
from fdag._values.types import FType
from fdag.errors import NotTranslatable

ERROR_PREFIX = "__err__"
SEPARATOR = "\x1f"


@dataclass(frozen=True)
class Compiled:
    """A feature's expressions, one ``with_columns`` after the other: ``lets`` (shared sub-expressions, one
    tuple per level: a level reads the ones before), ``compute`` (the value, raw when it can fail, and the
    error column; a fallback's results) then ``finish`` (the value nulled where it failed; empty when
    ``compute`` made the final value)."""

    name: str
    compute: tuple[pl.Expr, ...]
    finish: tuple[pl.Expr, ...]
    can_fail: bool  # whether an ``__err__`` column is made
    how: str  # "translated" or "fallback"
    reason: str  # why it fell back ("" when translated)
    messages: tuple[str, ...] = ()  # "Type\x1fmessage" per error code, when the error column holds codes
    reads: tuple[Read, ...] = ()  # outside names the translation built in (a fallback reads them live)
    shown: bool = True  # false for the shared call of an extract_fields function (not a node of its own)
    lets: tuple[tuple[pl.Expr, ...], ...] = ()
    assumes: bool = False  # whether ``compute`` also makes the ``__assume__`` column (an optimistic translation)

    def contexts(self) -> list[tuple[pl.Expr, ...]]:
        """The non-empty stages in order, one ``with_columns`` each (for a feature computed on its own)."""
        return [stage for stage in (*self.lets, self.compute, self.finish) if stage]


def compile_feature(
    name: str,
    function: Callable[..., Any],
    params: Mapping[str, FType],
    returns: FType,
    schema: Mapping[str, pl.DataType],
    arguments: Sequence[Argument] = (),
    optimistic: bool = False,
) -> Compiled:
    """Expressions computing ``function`` over the columns ``params`` (dtypes in ``schema``); ``arguments`` says
    what each of its parameters receives (by default the column named like it). An ``optimistic`` translation
    leaves out the patches of its fast expressions and, where it needed some, marks in ``assumption_column``
    the rows on which its value may not be Python's: a run must check that no row is marked (see ``Patches``)."""
    try:
        translation = translate(function, params, returns, arguments, optimistic)
        probe = with_lets(pl.LazyFrame(schema=dict(schema)), translation.lets)
        actual = probe.select(translation.value.alias(name)).collect_schema()[name]
        if actual != returns.polars and actual != pl.Null and not (returns.base is float and actual.is_numeric()):
            raise NotTranslatable(f"the translation yields {actual}, not the declared {returns.polars}")
        return _translated(name, translation, params, returns)
    except NotTranslatable as exc:
        return _fallback(name, function, params, returns, exc.reason, arguments)


def error_column(name: str) -> str:
    """The hidden column holding a feature's per-row errors."""
    return f"{ERROR_PREFIX}{name}"


def assumption_column(name: str) -> str:
    """The hidden column marking the rows where an optimistic translation's value may not be Python's."""
    return f"__assume__{name}"


def error_counts(table: pl.DataFrame, compiled: Compiled, row: str) -> list[tuple[str, str, int, int]]:
    """``(exception type, message, rows, first row)`` per distinct error of ``compiled`` in ``table`` (which holds
    its error column and the row-number column ``row``, ascending), in the order each first occurs.

    A translated feature's errors are small integer codes, one per error condition: each is counted with a
    comparison and found with an ``arg_max`` (a lone condition needs only the column's null count), which costs
    a fraction of grouping the failed rows; conditions raising the same error (``int(x)`` beyond int64 from two
    tests) make one record. A fallback's errors are its exceptions' texts, grouped.
    """
    column = error_column(compiled.name)
    if compiled.messages:
        codes = table[column]
        if codes.null_count() == len(codes):
            return []
        found: dict[str, tuple[int, int]] = {}  # error text -> (rows, first row)
        for code, text in enumerate(compiled.messages):
            hits = codes.is_not_null() if len(compiled.messages) == 1 else (codes == code).fill_null(False)
            count = int(hits.sum())
            if count:
                first = int(table[row][cast(int, hits.arg_max())])  # (not None: a row holds the code)
                earlier = found.get(text, (0, first))
                found[text] = (earlier[0] + count, min(earlier[1], first))
        ordered = sorted(found.items(), key=lambda item: item[1][1])
        return [(*_kind_and_message(text), count, first) for text, (count, first) in ordered]
    failed = table.lazy().select(row, column).filter(pl.col(column).is_not_null())
    counts = failed.group_by(column).agg(pl.len(), pl.col(row).min()).sort(row).collect()
    return [(*_kind_and_message(error), count, first) for error, count, first in counts.iter_rows()]


def _kind_and_message(text: str) -> tuple[str, str]:
    """The exception type and message of an error text ``"Type\x1fmessage"``."""
    kind, _, message = text.partition(SEPARATOR)
    return kind, message


def error_text(compiled: Compiled) -> pl.Expr:
    """A feature's per-row error as ``"Type: message"`` (null where it did not raise), from its error column."""
    column = pl.col(error_column(compiled.name))
    if compiled.messages:
        texts = [text.replace(SEPARATOR, ": ") for text in compiled.messages]
        return column.replace_strict(list(range(len(texts))), texts, default=None, return_dtype=pl.String)
    return column.str.replace(SEPARATOR, ": ", literal=True)


def null_guard(params: Mapping[str, FType]) -> pl.Expr | None:
    """Rows where a non-optional parameter is null: the function is not called there (None: no such rows)."""
    required = [pl.col(p).is_null() for p, ftype in params.items() if not ftype.optional]
    return pl.any_horizontal(required) if required else None


def canonical(value: pl.Expr, returns: FType) -> pl.Expr:
    """A value column in its type's canonical form (NaN read as null)."""
    value = value.cast(returns.polars)
    return value.fill_nan(None) if returns.base is float else value


def error_codes(errors: Sequence[tuple[pl.Expr, str, str]], guard: pl.Expr | None
                ) -> tuple[pl.Expr | None, tuple[str, ...]]:
    """The error column of translated error conditions (reached where ``guard``, the skipped rows, is false) as
    small integer codes, and the "Type\x1fmessage" of each code; ``None`` when nothing can fail."""
    if not errors:
        return None, ()
    # Small integer codes, not strings: a million-row column of codes costs next to nothing.
    chain: Any = pl if guard is None else pl.when(guard).then(pl.lit(None, pl.UInt16))
    for code, (condition, _, _) in enumerate(errors):
        chain = chain.when(condition.fill_null(False)).then(pl.lit(code, pl.UInt16))
    return chain.otherwise(pl.lit(None, pl.UInt16)), tuple(f"{kind}{SEPARATOR}{message}" for _, kind, message in errors)


def skipped_value(name: str, value: pl.Expr, returns: FType, skip: pl.Expr | None) -> pl.Expr:
    """The canonical value column of a translated feature, null where ``skip`` holds."""
    value = canonical(value, returns)
    if skip is not None:
        value = pl.when(skip).then(pl.lit(None, returns.polars)).otherwise(value)
    return value.alias(name)


def either(a: pl.Expr | None, b: pl.Expr | None) -> pl.Expr | None:
    """``a | b`` where ``None`` means "never"."""
    return b if a is None else (a if b is None else a | b)


def _translated(name: str, translation: Translation, params: Mapping[str, FType], returns: FType) -> Compiled:
    guard = null_guard(params)
    error, messages = error_codes(translation.errors, guard)
    assumed = () if translation.assumption is None else (translation.assumption.alias(assumption_column(name)),)
    if error is None:
        return Compiled(name, (skipped_value(name, translation.value, returns, guard), *assumed), (), False,
                        "translated", "", (), translation.reads, lets=translation.lets, assumes=bool(assumed))
    failed = pl.col(error_column(name)).is_not_null()
    return Compiled(name, (translation.value.alias(name), error.alias(error_column(name)), *assumed),
                    (skipped_value(name, pl.col(name), returns, either(guard, failed)),), True, "translated", "",
                    messages, translation.reads, lets=translation.lets, assumes=bool(assumed))


def row_arguments(batch: pl.Series, params: Mapping[str, FType], arguments: Sequence[Argument]) -> Any:
    """The argument tuples of a fallback's rows: the struct ``batch`` of the ``params`` columns (a dummy field
    when there are none), bound constants in their places."""
    given = list(arguments) or [Argument(p, p) for p in params]
    if not params:
        return (tuple(a.value for a in given) for _ in range(len(batch)))
    frame = batch.struct.unnest()
    columns = [frame[a.source].to_list() if a.source is not None else itertools.repeat(a.value) for a in given]
    # itertools.repeat is endless: zip stops at the columns' end
    return zip(*columns, strict=False) if any(a.source is None for a in given) else zip(*columns, strict=True)


def call_types(params: Mapping[str, FType], arguments: Sequence[Argument]) -> dict[str, FType]:
    """Each function parameter → the type of what it receives; a bound constant counts as optional, since it is
    never null where the parameter is not (discovery refuses that), so it never skips the call."""
    if not arguments:
        return dict(params)
    return {a.param: params[a.source] if a.source is not None else FType(type(a.value), True) for a in arguments}


def row_inputs(params: Mapping[str, FType]) -> pl.Expr:
    """The struct of a fallback's input columns (one dummy column when it reads none, to keep the row count)."""
    return pl.struct([pl.col(c) for c in params]) if params else pl.struct(pl.int_range(pl.len()).alias("_"))


def stored_error(error: BaseException | None) -> str | None:
    """How a fallback's error is stored in its error column."""
    return None if error is None else f"{type(error).__name__}{SEPARATOR}{error}"


def _fallback(name: str, function: Callable[..., Any], params: Mapping[str, FType], returns: FType,
              reason: str, arguments: Sequence[Argument] = ()) -> Compiled:
    call = row_call(function, call_types(params, arguments), returns)
    dtype = returns.polars

    def evaluate(batch: pl.Series) -> pl.Series:
        values, errors = [], []
        for args in row_arguments(batch, params, arguments):
            value, error = call(args)
            values.append(value)
            errors.append(stored_error(error))
        return pl.DataFrame([pl.Series("v", values, dtype=dtype), pl.Series("e", errors, dtype=pl.String)]
                            ).to_struct(name)

    packed = row_inputs(params).map_batches(evaluate, return_dtype=pl.Struct({"v": dtype, "e": pl.String}))
    staged = pl.col(f"__fallback__{name}")
    return Compiled(
        name,
        (packed.alias(f"__fallback__{name}"),),
        (canonical(staged.struct.field("v"), returns).alias(name), staged.struct.field("e").alias(error_column(name))),
        True,
        "fallback",
        reason,
    )
