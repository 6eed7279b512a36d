"""Provenance offline: the evidence of one spine row gathered by the vectorized engine from the events given.

Node values come from a ``FrameDriver`` over every node upstream of the one asked about (the same engine, so
the same values ``run`` gives); a window's events and a lookup's rows are read from the events frame under the
engine's own rules: per-event values computed by the engine's compiled functions, the earliest copy of each id (by
timestamp, then frame order), events of one timestamp ordered by id (frame order without ids), a lookup's newest row per
timestamp.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from fdag._backfill.job import FrameEngine
from fdag._dag.dag import Dag
from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag._dag.provenance import Evidence, Provenance, assemble, check_explained
from fdag._frame.lookups import ROW_TS, newest_rows
from fdag._frame.point_in_time import earliest_copies
from fdag._frame.windows import WindowStage
from fdag._values.frames import to_polars
from fdag._values.instants import micros
from fdag._values.types import FType, coerce_value
from fdag.errors import InputError, InputTypeError, MissingInputError

_INSTANT = FType(datetime)
_ORDER = "__provenance_order"


class FrameProvenance:
    """Explains the values of one ``FrameDriver`` (its ``dag`` and ``plan``): an engine per node asked about,
    made by ``engine(outputs)`` on first use."""

    def __init__(self, dag: Dag, plan: Plan, engine: Callable[[list[str]], FrameEngine]) -> None:
        self.dag, self.plan, self.engine = dag, plan, engine
        self._engines: dict[str, FrameEngine] = {}
        self._lock = threading.Lock()

    def explain(self, spine_row: Any, name: str, sources: Mapping[str, Any] | None, as_of: str) -> Provenance:
        """The provenance of ``name`` for one spine row, computed from ``sources``."""
        engine = self._engine_for(name)
        plan = engine.plan
        row = _one_row(spine_row)
        if not isinstance(as_of, str):
            raise InputTypeError("as_of", f"is a {type(as_of).__name__}, not the name of the row's instant",
                                 "pass the key holding it, e.g. as_of='as_of'")
        if as_of not in row:
            raise MissingInputError(as_of, "is missing from the spine row",
                                    f"pass the row's instant as {as_of!r} (or name its key with as_of=)")
        instant = _coerce(as_of, row[as_of], _INSTANT)
        if instant is None:
            raise InputTypeError(as_of, "is null in the spine row", "pass the instant the row is evaluated at")
        values: dict[str, Any] = {}
        for input_name, ftype in plan.inputs.items():
            if input_name not in row:
                raise MissingInputError(input_name, "is missing from the spine row",
                                        f"pass it, e.g. {{{input_name!r}: <{ftype}>}}")
            values[input_name] = _coerce(input_name, row[input_name], ftype)
        spine = pl.DataFrame([{**values, AS_OF: instant}],
                             schema={**{n: t.polars for n, t in plan.inputs.items()}, AS_OF: _INSTANT.polars})
        result = engine.evaluate(spine, sources, as_of=AS_OF)
        values |= result.table.select(plan.node_names).row(0, named=True)
        values[AS_OF] = instant
        nodes = self.dag.nodes
        errors = {error.node: f"{error.type}: {error.message}" for error in result.errors
                  if error.node in nodes and nodes[error.node].kind == "feature"}
        given = sources or {}
        stage = WindowStage(plan)
        events: dict[str, list[tuple[int, Any, dict[str, Any]]]] = {}
        rows: dict[str, dict[timedelta, tuple[int, Any, dict[str, Any]] | None]] = {}
        t = micros(instant)
        for source_name, source in plan.sources.items():
            windows, lookups = plan.windows.get(source_name, ()), plan.lookups.get(source_name, ())
            raw = to_polars(given[source_name], f"events of source '{source_name}'")
            table = stage.event_values(source, (*windows, *lookups), raw, [])
            key = values[source.key]
            identity = [source.timestamp, *([source.id] if source.id else [])]
            if windows:
                longest = max(spec.over for spec in windows)
                columns = list(dict.fromkeys(spec.value_column for spec in windows))
                found = (table.with_row_index(_ORDER).filter(earliest_copies(source))
                         .filter(pl.col(source.key) == key)
                         .with_columns(pl.col(source.timestamp).dt.epoch("us"))
                         .filter(pl.col(source.timestamp).is_between(t - longest // _MICROSECOND, t))
                         .sort([source.timestamp, source.id or _ORDER]))
                events[source_name] = [_held(record, source.timestamp, source.id, columns)
                                       for record in found.select(*identity, *columns).iter_rows(named=True)]
            if lookups:
                columns = [spec.value_column for spec in lookups]
                candidates = newest_rows(source, table.lazy(), columns).filter(pl.col(source.key) == key).collect()
                rows[source_name] = {}
                for spec in lookups:
                    cutoff = instant - spec.lag
                    newest = candidates.filter(pl.col(ROW_TS) <= cutoff).tail(1)
                    rows[source_name][spec.lag] = None if newest.is_empty() else _held(
                        newest.with_columns(pl.col(ROW_TS).dt.epoch("us")).row(0, named=True), ROW_TS, source.id,
                        columns)
        evidence = Evidence(instant, values, errors, result.watermarks, events, rows)
        return assemble(nodes, name, evidence)

    def _engine_for(self, name: str) -> FrameEngine:
        check_explained(self.plan, name)
        with self._lock:
            engine = self._engines.get(name)
            if engine is None:
                engine = self._engines[name] = self.engine([node.name for node in self.dag.plan([name]).nodes])
            return engine


_MICROSECOND = timedelta(microseconds=1)


def _held(record: Mapping[str, Any], stamp: str, event_id: str | None, columns: list[str]) -> tuple[
        int, Any, dict[str, Any]]:
    """One event (or row) as evidence: timestamp µs, id, value column -> value."""
    return record[stamp], None if event_id is None else record[event_id], {c: record[c] for c in columns}


def _one_row(spine_row: Any) -> dict[str, Any]:
    """The spine row as a dict: given as a mapping, or as a one-row frame."""
    if isinstance(spine_row, Mapping):
        return dict(spine_row)
    try:
        frame = to_polars(spine_row, "spine_row")
    except InputError:
        raise InputTypeError("spine_row", f"is a {type(spine_row).__name__}, not a mapping or a one-row frame",
                             "pass a dict of the row's inputs and as_of, or one row of the spine") from None
    if frame.height != 1:
        raise InputError("spine_row", f"is a frame of {frame.height} rows, not one",
                         "pass one row, e.g. spine[3] or spine.row(3, named=True)")
    try:
        return frame.row(0, named=True)
    except OverflowError as exc:  # an instant Python's datetime cannot hold (beyond year 9999)
        raise InputError("spine_row", f"holds a value Python cannot represent ({exc})",
                         "keep instants within the years 1 to 9999") from None


def _coerce(name: str, value: Any, ftype: FType) -> Any:
    try:
        return coerce_value(value, ftype)
    except (TypeError, OverflowError) as exc:
        raise InputTypeError(name, str(exc), f"pass a {ftype.required()} or None") from None
