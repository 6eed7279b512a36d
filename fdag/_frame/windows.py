"""Window features in the vectorized engine: validate each source's events, compute per-event values, join
the point-in-time aggregates back onto the spine rows."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import polars as pl

from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag._dag.specs import WindowSpec, event_time, is_lookup_value, node_type
from fdag._declare.source import Source
from fdag._frame.compile import compile_feature
from fdag._frame.point_in_time import window_frame
from fdag._values.frames import ROW, column_expr, to_polars
from fdag.errors import InputError, SourceError


class WindowStage:
    """Adds every window node of a plan to the working frame, one source at a time."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def attach(
        self, work: pl.LazyFrame, sources: Mapping[str, Any]
    ) -> tuple[pl.LazyFrame, dict[str, datetime | None]]:
        """``work`` (``__row``, inputs, ``as_of``) with one column per window, lookup and lookup clock of the plan,
        and each window source's watermark in these events (returned, not kept: runs may be concurrent)."""
        watermarks: dict[str, datetime | None] = {}
        events_by_source: dict[str, pl.DataFrame] = {}
        for group in self.plan.groups:
            source = group.source
            name = source.name
            if name not in sources:
                raise InputError(name, "is a source of the requested features but no events were given for it",
                                 f"pass sources={{{name!r}: events}} (an empty frame if there are none)")
            if name not in events_by_source:
                specs = tuple(s for g in self.plan.groups if g.source.name == name for s in g.specs)
                events = self._events(source, specs, to_polars(sources[name], f"events of source '{name}'"))
                events_by_source[name] = events
                watermarks[name] = events.select(pl.col(source.timestamp).max()).item()
            # A null key or instant makes the value null (DESIGN §2: a null argument skips the node).
            requests = work.select(ROW, source.key, (pl.col(AS_OF) - group.lag).alias(AS_OF)).drop_nulls()
            windows = window_frame(list(group.specs), events_by_source[name].lazy(), requests).with_columns(
                _unwrapped(spec) for spec in group.specs
            )
            work = work.join(windows, on=ROW, how="left")
        return work, watermarks

    def _events(self, source: Source, specs: tuple[WindowSpec, ...], raw: pl.DataFrame) -> pl.DataFrame:
        what = f"events of source '{source.name}'"
        identity = [source.key, source.timestamp] + ([source.id] if source.id else [])
        columns = dict.fromkeys(identity + [c for spec in specs for c in spec.params])
        frame = raw.select([column_expr(raw.schema, c, source.schema[c], what).alias(c) for c in columns])
        nulls = frame.select(pl.col(c).null_count() for c in identity).row(0)
        for column, count in zip(identity, nulls, strict=True):
            if count:
                raise SourceError(f"{count} events of source '{source.name}' have a null '{column}'. "
                                  f"Hint: drop or repair them; every event needs its {column}.")
        lazy, values = frame.lazy(), {spec.value_column: spec for spec in specs}
        for column, spec in values.items():
            if spec.function is event_time:  # a lookup's clock: the row's own timestamp, no function to run
                lazy = lazy.with_columns(pl.col(source.timestamp).alias(column))
                continue
            compiled = compile_feature(column, spec.function, spec.event_params(), spec.value_type, frame.schema)
            if compiled.first:
                lazy = lazy.with_columns(compiled.first)
            lazy = lazy.with_columns(compiled.then)
            if is_lookup_value(spec):  # every row counts for a lookup, even with a null value: wrap it
                lazy = lazy.with_columns(pl.concat_list(pl.col(column)).alias(column))
        return lazy.select(*identity, *values).collect()


def _unwrapped(spec: WindowSpec) -> pl.Expr:
    """A window column as the node's value: lookups unwrapped from their one-item list, NaN read as null."""
    column = pl.col(spec.node)
    if is_lookup_value(spec):
        column = column.list.first()
    return column.fill_nan(None).alias(spec.node) if node_type(spec).base is float else column
