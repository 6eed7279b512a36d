"""Window and lookup features in the vectorized engine: validate each source's events, compute per-event
values, and join the point-in-time aggregates and the as-of joined rows back onto the spine rows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._frame.compile import Compiled, compile_feature, error_column, error_counts
from fdag._frame.lookups import as_of_column, lookup_frame
from fdag._frame.point_in_time import earliest_copies, window_frame
from fdag._values.calls import ErrorRecord
from fdag._values.frames import ROW, column_expr, refuse_int64_overflow, to_polars
from fdag.errors import InputError, InputTypeError, SourceError


class WindowStage:
    """Adds every window and lookup node of a plan to the working frame, one source at a time."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    @property
    def failing(self) -> list[Compiled]:
        """The window nodes whose value may be an error (an int sum beyond int64), as features with an error column
        the driver collects like any other."""
        return [Compiled(spec.node, (), (), True, "window", "") for specs in self.plan.windows.values()
                for spec in specs if spec.can_overflow]

    @property
    def as_of_columns(self) -> list[str]:
        """The working-frame columns holding each lookup value's as-of (what the as-of of its dependents needs)."""
        return [as_of_column(spec.node) for specs in self.plan.lookups.values() for spec in specs]

    def attach(
        self, work: pl.LazyFrame, sources: Mapping[str, Any]
    ) -> tuple[pl.LazyFrame, dict[str, datetime | None], list[ErrorRecord]]:
        """``work`` (``__row``, inputs, ``as_of``) with one column per window and lookup of the plan and one per
        lookup's as-of, each source's watermark in these events, and the errors of the per-event functions, counted
        in events (returned, not kept: runs may be concurrent)."""
        watermarks: dict[str, datetime | None] = {}
        if not isinstance(sources, Mapping):
            raise InputTypeError("sources", f"is a {type(sources).__name__}, not a mapping of source name to events",
                                 "pass e.g. sources={'transactions': events}")
        errors: list[ErrorRecord] = []
        for name, source in self.plan.sources.items():
            if name not in sources:
                raise InputError(name, "is a source of the requested features but no events were given for it",
                                 f"pass sources={{{name!r}: events}} (an empty frame if there are none)")
            windows, lookups = self.plan.windows.get(name, ()), self.plan.lookups.get(name, ())
            raw = to_polars(sources[name], f"events of source '{name}'")
            events = self.event_values(source, (*windows, *lookups), raw, errors)
            # The largest timestamp of the events the engines keep: a later copy of an id is a duplicate, which
            # the online state does not apply either, so it moves no watermark.
            kept = events.filter(earliest_copies(source))
            watermark = watermarks[name] = kept.select(pl.col(source.timestamp).max()).item()
            # A null key or instant makes the value null (a null argument skips the node).
            requests = work.select(ROW, source.key, AS_OF).drop_nulls()
            if windows:
                frame = window_frame(list(windows), events.lazy(), requests)
                work = work.join(frame.with_columns(_nan_as_null(spec) for spec in windows), on=ROW, how="left")
            if lookups:
                work = work.join(lookup_frame(lookups, events.lazy(), requests, watermark), on=ROW, how="left")
        return work, watermarks, errors

    def event_values(self, source: Source, specs: Sequence[WindowSpec | LookupSpec], raw: pl.DataFrame,
                errors: list[ErrorRecord]) -> pl.DataFrame:
        """The identity and per-event value columns of ``raw``; the value functions' errors go to ``errors``
        (every row counts, duplicates too: an event's value is computed before the engines deduplicate)."""
        what = f"events of source '{source.name}'"
        identity = [source.key, source.timestamp] + ([source.id] if source.id else [])
        columns = dict.fromkeys(identity + [c for spec in specs for c in spec.params])
        refuse_int64_overflow(raw, {c: source.schema[c] for c in columns}, what)
        frame = raw.select([column_expr(raw.schema, c, source.schema[c], what).alias(c) for c in columns])
        nulls = frame.select(pl.col(c).null_count() for c in identity).row(0)
        for column, count in zip(identity, nulls, strict=True):
            if count:
                raise SourceError(source.name, f"is null in {count} events",
                                  f"drop or repair them; every event needs its {column}", column=column)
        lazy, values = frame.lazy(), {spec.value_column: spec for spec in specs}
        failing: list[tuple[WindowSpec | LookupSpec, Compiled]] = []
        for column, spec in values.items():
            compiled = compile_feature(column, spec.function, spec.event_params(), spec.value_type, frame.schema)
            for context in compiled.contexts():
                lazy = lazy.with_columns(context)
            if compiled.can_fail:
                failing.append((spec, compiled))
        checked = [error_column(compiled.name) for _, compiled in failing]
        table = lazy.select(*identity, *values, *checked).collect()
        if failing and table.select(pl.any_horizontal(pl.col(checked).is_not_null().any())).item():
            numbered = table.select(*checked).with_row_index(ROW)
            for spec, compiled in failing:
                errors += [ErrorRecord(spec.error_node, kind, message, count)
                           for kind, message, count, _ in error_counts(numbered, compiled, ROW)]
        return table.drop(checked)


def _nan_as_null(spec: WindowSpec) -> pl.Expr:
    """A window column as the node's value: NaN read as null (e.g. ``inf - inf`` in a sum)."""
    column = pl.col(spec.node)
    return column.fill_nan(None).alias(spec.node) if spec.returns.base is float else column
