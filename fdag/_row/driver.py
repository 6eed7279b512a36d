"""``RowDriver``: the online engine — one request in, one feature vector out, compiled once."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from fdag._dag.dag import Dag
from fdag._dag.plan import Plan
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._row.codegen import compile_plan
from fdag._row.vector import FeatureVector, VectorContext
from fdag._values.calls import row_call
from fdag._values.types import to_utc
from fdag.errors import InputError, InputTypeError


class RowDriver:
    """Compute features for one request at a time, in-process, from window state kept in ``store``.

    Example::

        row = fdag.RowDriver(dag, outputs=["amount_vs_mean_10d"])
        row.ingest("transactions", {"txn_id": "t1", "user_id": "u1", "ts": now, "amount": 20.0})
        vec = row.get({"user_id": "u1", "amount": 120.0})
        vec["amount_vs_mean_10d"], vec.as_of, vec.errors
    """

    def __init__(
        self,
        dag: Dag,
        outputs: Sequence[str] | None = None,
        store: Any = None,
        errors: Literal["null", "raise"] = "null",
    ) -> None:
        if errors not in ("null", "raise"):
            raise ValueError(f"errors={errors!r} is not 'null' or 'raise'. Hint: 'null' records errors per row.")
        self.dag = dag
        self.plan: Plan = dag.plan(outputs)
        if self.plan.sources and store is None:
            from fdag._stores.memory import MemoryStore

            store = MemoryStore()
        windows = {name: store.window_state(self.plan.sources[name], list(specs), _per_event_values(specs))
                   for name, specs in self.plan.windows.items()}
        lookups = {name: store.lookup_state(self.plan.sources[name], list(specs), _per_event_values(specs))
                   for name, specs in self.plan.lookups.items()}
        self._states: dict[str, list[Any]] = {}
        for name, state in [*windows.items(), *lookups.items()]:
            self._states.setdefault(name, []).append(state)
        # A source read by windows and lookups has a state for each: a lock makes a batch land in both at once,
        # as far as a concurrent get can tell.
        self._locks = {name: threading.Lock() for name, held in self._states.items() if len(held) > 1}
        self.store = store
        context = VectorContext(self.plan.clocks, self.plan.lineage)
        self._compute = compile_plan(self.plan, windows, lookups, errors, self._locks, context)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The features each vector holds."""
        return self.plan.outputs

    def get(self, request: Mapping[str, Any], as_of: datetime | None = None) -> FeatureVector:
        """Features for one request at ``as_of`` (default: now, UTC). Naive datetimes are read as UTC."""
        return self._compute(request, _instant(as_of))

    def get_many(
        self, requests: Iterable[Mapping[str, Any]], as_of: datetime | Sequence[datetime] | None = None
    ) -> list[FeatureVector]:
        """``get`` for each request; ``as_of`` is one instant for all, or one per request."""
        requests = list(requests)
        instants = as_of if isinstance(as_of, Sequence) else [as_of] * len(requests)
        if len(instants) != len(requests):
            raise InputError("as_of", f"has {len(instants)} instants for {len(requests)} requests",
                             "pass one instant, or one per request")
        return [self.get(request, instant) for request, instant in zip(requests, instants, strict=True)]

    def ingest(self, source: str | Source, events: Any) -> Any:
        """Feed events of ``source`` (a dict, dicts, a Polars DataFrame or an Arrow table) into window state.

        Returns the ingest report: accepted, duplicates, too late, and the errors raised by window and lookup
        functions (each made that event's value null; recorded here, once per event, in both error modes).
        """
        batch = _event_dicts(events)
        states = self._state(source)
        if len(states) == 1:
            return states[0].ingest(batch)
        with self._locks[_source_name(source)]:
            for state in states:  # all or nothing across the states, too
                state.validate(batch)
            reports = [state.ingest(batch) for state in states]
        return _merged(reports)

    def bootstrap(self, source: str | Source, history: Any) -> Any:
        """Load ``history`` (a DataFrame, Arrow table or Parquet path) into window state before the stream.

        All or nothing: a frame that any state of the source rejects (``SourceError``) loads into none of them.
        """
        import polars as pl

        if isinstance(history, str | Path):
            history = pl.read_parquet(history)
        elif not isinstance(history, pl.DataFrame):
            history = pl.DataFrame(history)
        states = self._state(source)
        if len(states) == 1:
            return states[0].bootstrap(history)
        with self._locks[_source_name(source)]:
            prepared = [state.prepare(history) for state in states]  # all or nothing across the states
            reports = [state.load(ready) for state, ready in zip(states, prepared, strict=True)]
        return _merged(reports)

    def materialize(self, source: str | Source, snapshot: Any) -> Any:
        """Load rows of a snapshot source (for ``@fdag.lookup`` features): a frame, Parquet path or dicts."""
        if isinstance(snapshot, str | Path) or hasattr(snapshot, "to_dicts") or hasattr(snapshot, "to_pylist"):
            return self.bootstrap(source, snapshot)
        return self.ingest(source, snapshot)

    def watermark(self, source: str | Source) -> datetime | None:
        """The largest event timestamp of ``source`` seen so far (None before any): record it to resume a stream."""
        marks = [state.watermark for state in self._state(source) if state.watermark is not None]
        return max(marks, default=None)

    def held(self, source: str | Source) -> int | None:
        """How many events of ``source`` the window state holds (None when the store cannot tell)."""
        counts: list[int | None] = [getattr(state, "held", None) for state in self._state(source)]
        known = [count for count in counts if count is not None]
        return sum(known) if len(known) == len(counts) else None

    def _state(self, source: str | Source) -> list[Any]:
        name = _source_name(source)
        if name not in self._states:
            known = ", ".join(self._states) or "none"
            raise InputError(name, "is not a source of this driver's outputs",
                             f"ingest into one of: {known} (features over other sources are not planned)")
        return self._states[name]

    def __repr__(self) -> str:
        return f"RowDriver(outputs={list(self.outputs)})"


def _merged(reports: list[Any]) -> Any:
    """One report for the states of one source: the first state's counts (the events are the same), and the
    errors of every state (each computes its own functions)."""
    return replace(reports[0], errors=tuple(error for report in reports for error in report.errors))


def _source_name(source: str | Source) -> str:
    """A source's name, given the name or the Source."""
    return source.name if isinstance(source, Source) else source


def _instant(as_of: datetime | None) -> datetime:
    if as_of.__class__ is datetime and as_of.tzinfo is UTC:  # type: ignore[union-attr]
        return as_of  # type: ignore[return-value]
    if as_of is None:
        return datetime.now(UTC)
    if not isinstance(as_of, datetime):
        raise InputTypeError("as_of", f"is a {type(as_of).__name__} ({as_of!r}), not a datetime",
                             "pass a datetime (naive ones are read as UTC) or None for now")
    return to_utc(as_of)


def _per_event_values(specs: Sequence[WindowSpec | LookupSpec]) -> dict[str, Any]:
    """value column -> fn(event) giving the per-event value under the null and error rules of every feature: a
    null argument for a non-optional parameter gives null; an error is raised, for the store to record it."""
    return {spec.value_column: _event_value(spec) for spec in specs}


def _event_value(spec: WindowSpec | LookupSpec) -> Any:
    """The per-event (per-row, for a lookup) value function of one spec; it raises what the function raised (the
    store records it and takes null)."""
    call = row_call(spec.function, spec.event_params(), spec.value_type)
    columns = spec.params

    def value(event: Mapping[str, Any]) -> Any:
        result, error = call([event.get(column) for column in columns])
        if error is not None:
            raise error
        return result

    return value


def _event_dicts(events: Any) -> list[Mapping[str, Any]]:
    if isinstance(events, Mapping):
        return [events]
    if hasattr(events, "to_dicts"):  # Polars
        return events.to_dicts()
    if hasattr(events, "to_pylist"):  # Arrow
        return events.to_pylist()
    return list(events)
