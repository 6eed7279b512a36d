"""Provenance online: the evidence of one request gathered from a ``RowDriver``'s compiled plan and its state.

The values of every node upstream of the one asked about come from the plan of those nodes, compiled like the
driver's and reading the driver's own states (through a view that picks the specs it needs); a window's events
and a lookup's newest rows come from the same states. Like ``get``, a window whose events the state no longer
holds raises ``TruncatedStateError``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from fdag._dag.dag import Dag
from fdag._dag.node import AS_OF
from fdag._dag.plan import Plan
from fdag._dag.provenance import Evidence, Provenance, assemble, check_explained
from fdag._row.codegen import Compiled, compile_plan
from fdag._row.vector import VectorContext
from fdag._stores.lookup_query import LookupQuery, Row
from fdag._stores.protocol import HeldEvent
from fdag._values.instants import MICROSECOND
from fdag._values.types import coerce_value


class _Picked:
    """A view of one state answering only some of its specs (at ``positions``), as a plan of fewer nodes asks."""

    def __init__(self, state: Any, positions: Sequence[int], lookup: bool) -> None:
        self.state, self.positions, self.lookup = state, tuple(positions), lookup

    @property
    def watermark(self) -> datetime | None:
        return self.state.watermark  # type: ignore[no-any-return]

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], Any]:
        values, extra = self.state.query(key, as_of)
        picked = [values[i] for i in self.positions]
        return picked, ([extra[i] for i in self.positions] if self.lookup else extra)


class RowProvenance:
    """Explains the values of one driver: a compiled plan per node asked about, built on first use."""

    def __init__(self, dag: Dag, plan: Plan, windows: Mapping[str, Any], lookups: Mapping[str, Any], errors: str,
                 locks: Mapping[str, Any]) -> None:
        self.dag, self.plan, self.windows, self.lookups = dag, plan, windows, lookups
        self.errors, self.locks = errors, locks
        self._compiled: dict[str, tuple[Plan, Compiled]] = {}

    def explain(self, request: Mapping[str, Any], name: str, as_of: datetime) -> Provenance:
        """The provenance of ``name`` for ``request`` at ``as_of`` (already an instant in UTC)."""
        plan, compute = self._compiled_for(name)
        vector = compute(request, as_of)  # raises what get raises: a missing input, a truncated state
        values: dict[str, Any] = {input_name: coerce_value(request[input_name], ftype)
                                  for input_name, ftype in plan.inputs.items()}
        values |= vector.values
        values[AS_OF] = as_of
        errors = {error.node: f"{error.type}: {error.message}" for error in vector.errors}
        watermarks: dict[str, datetime | None] = {}
        events: dict[str, list[HeldEvent]] = {}
        rows: dict[str, dict[timedelta, Row]] = {}
        for source_name, source in plan.sources.items():
            key = values[source.key]
            if source_name in plan.windows:
                state = self.windows[source_name]
                events[source_name], watermarks[source_name] = (
                    state.events(key, as_of) if key is not None else ([], state.watermark))
            if source_name in plan.lookups:
                state = self.lookups[source_name]
                lags = LookupQuery(self.plan.lookups[source_name]).lags
                newest = state.newest(key, as_of)[0] if key is not None else [None] * len(lags)
                rows[source_name] = {spec.lag: newest[lags.index(spec.lag // MICROSECOND)]
                                     for spec in plan.lookups[source_name]}
                watermarks.setdefault(source_name, state.watermark)
        found_rows = {read: {lag: None if row is None else (row[0], row[2], self._by_column(read, row[1]))
                             for lag, row in by_lag.items()} for read, by_lag in rows.items()}
        return assemble(self.dag.nodes, name, Evidence(as_of, values, errors, watermarks, events, found_rows))

    def _compiled_for(self, name: str) -> tuple[Plan, Compiled]:
        check_explained(self.plan, name)
        found = self._compiled.get(name)
        if found is None:
            plan = self.dag.plan([node.name for node in self.dag.plan([name]).nodes])
            windows = {source: _Picked(self.windows[source], [self.plan.windows[source].index(spec) for spec in specs],
                                       lookup=False) for source, specs in plan.windows.items()}
            lookups = {source: _Picked(self.lookups[source], [self.plan.lookups[source].index(spec) for spec in specs],
                                       lookup=True) for source, specs in plan.lookups.items()}
            context = VectorContext(plan.clocks, plan.lineage)
            compute = compile_plan(plan, windows, lookups, self.errors, self.locks, context)
            found = self._compiled[name] = (plan, compute)
        return found

    def _by_column(self, source: str, values: Sequence[Any]) -> dict[str, Any]:
        """A lookup row's values by value column (the driver made the state with its plan's specs, in order)."""
        return dict(zip(LookupQuery(self.plan.lookups[source]).columns, values, strict=True))
