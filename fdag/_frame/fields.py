"""The nodes of one ``@fdag.extract_fields`` function as Polars: one shared call, then one column per field.

Translated when every return of the function is a dict literal holding each field (or ``None``): each field is
its own expression, the function's error conditions shared. Otherwise the function runs row by row once and
its fields are unpacked from a struct column, under the rules of ``fdag._values.fields`` the row engine uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from fdag._dag.node import Node
from fdag._frame.compile import (
    Compiled,
    call_types,
    canonical,
    either,
    error_codes,
    error_column,
    null_guard,
    row_arguments,
    row_inputs,
    skipped_value,
    stored_error,
)
from fdag._frame.translate import translate_fields, with_lets
from fdag._values.fields import split_fields
from fdag.errors import NotTranslatable


def compile_fields(nodes: Sequence[Node], schema: Mapping[str, pl.DataType]) -> list[Compiled]:
    """The shared call (hidden, named like the function) followed by one ``Compiled`` per field node planned."""
    first = nodes[0]
    spec = first.extracted
    assert spec is not None
    try:
        translation = translate_fields(first.function, spec.group, first.params, spec.fields, first.arguments)
        probe = with_lets(pl.LazyFrame(schema=dict(schema)), translation.lets).select(
            value.alias(field) for field, value in translation.values.items()).collect_schema()
        for field, ftype in spec.fields:
            actual = probe[field]
            if actual != ftype.polars and actual != pl.Null and not (ftype.base is float and actual.is_numeric()):
                raise NotTranslatable(f"field '{field}' translates to {actual}, not the declared {ftype.polars}")
    except NotTranslatable as exc:
        return _fallback(nodes, exc.reason)
    guard = null_guard(first.params)
    error, messages = error_codes(translation.errors, guard)
    group = spec.group
    shared = Compiled(group, () if error is None else (error.alias(error_column(group)),), (), error is not None,
                      "translated", "", messages, translation.reads, shown=False, lets=translation.lets)
    skip = either(guard, None if error is None else pl.col(error_column(group)).is_not_null())
    compiled = [shared]
    for node in nodes:
        assert node.extracted is not None
        field = node.extracted.field
        value = translation.values[field]
        field_error, field_messages = error_codes(translation.field_errors[field], skip)
        if error is None and field_error is None:
            compiled.append(Compiled(node.name, (skipped_value(node.name, value, node.returns, guard),), (), False,
                                     "translated", ""))
            continue
        # the raw value beside the function's error column, then its own error and the value nulled by both
        failed = None if field_error is None else field_error.is_not_null()
        finish: tuple[pl.Expr, ...] = (skipped_value(node.name, pl.col(node.name), node.returns, either(skip, failed)),)
        if field_error is not None:
            finish = (field_error.alias(error_column(node.name)), *finish)
        compiled.append(Compiled(node.name, (value.alias(node.name),), finish, field_error is not None,
                                 "translated", "", field_messages))
    return compiled


def _fallback(nodes: Sequence[Node], reason: str) -> list[Compiled]:
    first = nodes[0]
    spec = first.extracted
    assert spec is not None
    group, fields = spec.group, spec.fields
    types = call_types(first.params, first.arguments)
    required = [i for i, ftype in enumerate(types.values()) if not ftype.optional]
    function = first.function
    dtype = pl.Struct({"e": pl.String, **{f"v{i}": t.polars for i, (_, t) in enumerate(fields)},
                       **{f"e{i}": pl.String for i in range(len(fields))}})

    def evaluate(batch: pl.Series) -> pl.Series:
        columns: list[list[Any]] = [[] for _ in range(1 + 2 * len(fields))]
        for args in row_arguments(batch, first.params, first.arguments):
            if any(args[i] is None for i in required):
                row: tuple[list[Any], BaseException | None, list[Any]] = split_fields(None, group, fields)
            else:
                try:
                    value = function(*args)
                except Exception as exc:
                    row = ([None] * len(fields), exc, [None] * len(fields))
                else:
                    row = split_fields(value, group, fields)
            values, error, field_errors = row
            columns[0].append(stored_error(error))
            for i, item in enumerate(values):
                columns[1 + i].append(item)
                columns[1 + len(fields) + i].append(stored_error(field_errors[i]))
        names = ["e", *(f"v{i}" for i in range(len(fields))), *(f"e{i}" for i in range(len(fields)))]
        return pl.DataFrame([pl.Series(n, c, dtype=dtype.to_schema()[n]) for n, c in zip(names, columns, strict=True)]
                            ).to_struct(group)

    staged = pl.col(f"__fallback__{group}")
    shared = Compiled(group, (row_inputs(first.params).map_batches(evaluate, return_dtype=dtype)
                              .alias(f"__fallback__{group}"),),
                      (staged.struct.field("e").alias(error_column(group)),), True, "fallback", reason, shown=False)
    compiled = [shared]
    position = {field: i for i, (field, _) in enumerate(fields)}
    for node in nodes:
        assert node.extracted is not None
        i = position[node.extracted.field]
        compiled.append(Compiled(node.name, (), (canonical(staged.struct.field(f"v{i}"), node.returns).alias(node.name),
                                                 staged.struct.field(f"e{i}").alias(error_column(node.name))),
                                 True, "fallback", reason))
    return compiled
