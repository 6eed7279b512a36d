"""``RowDriver``: the online engine — one request in, one feature vector out, compiled once."""

from __future__ import annotations

import threading
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import polars as pl

from fdag._dag.checks import recording_checks
from fdag._dag.dag import Dag
from fdag._dag.plan import Plan
from fdag._dag.provenance import Provenance
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._logs.feature_log import FeatureLog
from fdag._row.codegen import compile_plan
from fdag._row.provenance import RowProvenance
from fdag._row.vector import FeatureVector, VectorContext
from fdag._stores.protocol import Store
from fdag._values.calls import mapping_call
from fdag._values.frames import beyond_python, to_polars
from fdag._values.types import FType, coerce_value
from fdag._values.value_identity import value_identity
from fdag.errors import DeclarationError, DeclarationTypeError, InputError, InputTypeError, SourceError

if TYPE_CHECKING:
    from fdag._streams.log import StreamLog
    from fdag._streams.worker import StreamWorker


class RowDriver:
    """Compute features for one request at a time, in-process, from window state kept in ``store``.

    The plan of ``outputs`` is compiled once into straight-line Python (inputs read and type-checked once, each
    feature called with the null and error rules inlined), so a ``get`` costs microseconds. Window and lookup
    features read state that ``ingest``, ``bootstrap`` and ``materialize`` feed: exact sliding windows over
    ``[as_of - w, as_of)``, out-of-order events placed in time, duplicate ids ignored. For the same events it
    gives what ``FrameDriver`` gives for a spine row at the same ``as_of``.

    Parameters
    ----------
    dag
        The validated DAG (``Dag.from_modules``).
    outputs
        The features each vector holds, in order; ``None``: every node of the DAG.
    store
        Where window and lookup state lives: ``MemoryStore()`` (the default) or a ``RedisStore`` shared by every
        driver on the same url and namespace.
    errors
        ``"null"``: an exception inside a feature makes it null and is recorded in ``vec.errors``; ``"raise"``:
        it raises ``FeatureError`` instead.
    log
        A ``FeatureLog`` recording every vector served, to Parquet (see ``docs/observability.md``).

    Example::

        from datetime import UTC, datetime

        import fdag
        from fdag.demo import fraud
        from fdag.demo.samples import transactions

        row = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["spend_count_10d", "amount_vs_mean_10d"])
        row.ingest("transactions", transactions(users=20, count=500, days=3))
        vec = row.get({"user_id": "u1", "amount": 120.0}, as_of=datetime(2024, 3, 4, tzinfo=UTC))
        print(vec["spend_count_10d"], vec.errors)   # 60 []
    """

    def __init__(
        self,
        dag: Dag,
        outputs: Sequence[str] | None = None,
        store: Any = None,
        errors: Literal["null", "raise"] = "null",
        log: FeatureLog | None = None,
    ) -> None:
        if errors not in ("null", "raise"):
            raise DeclarationError("errors", errors, "is not 'null' or 'raise'", "'null' records errors per row")
        if not isinstance(dag, Dag):
            raise DeclarationTypeError("dag", dag, "is not an fdag.Dag", "build one with fdag.Dag.from_modules(module)")
        if store is not None and not isinstance(store, Store):
            raise DeclarationTypeError("store", store, "is not a store (it has no window_state and lookup_state)",
                                       "pass fdag.MemoryStore() or fdag.RedisStore(url), or None for a MemoryStore")
        if log is not None and not isinstance(log, FeatureLog):
            raise DeclarationTypeError("log", log, "is not an fdag.FeatureLog", "pass fdag.FeatureLog(directory)")
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
        # One event of a source with a single state that takes it alone (MemoryStore's): no batch around it.
        self._ingest_one = {name: held[0].ingest_one for name, held in self._states.items()
                            if len(held) == 1 and hasattr(held[0], "ingest_one")}
        self.store = store
        context = VectorContext(self.plan.clocks, self.plan.lineage)
        self._compute = compile_plan(self.plan, windows, lookups, errors, self._locks, context)
        self._compile = (windows, lookups, errors)
        self._overridden: dict[frozenset[str], Any] = {}
        self._provenance = RowProvenance(dag, self.plan, windows, lookups, errors, self._locks)
        self.log = log
        if log is not None:  # wrapped once here: a driver without a log runs the compiled function itself
            self._compute = log.recorder(self.plan, self._compute)

    @property
    def outputs(self) -> tuple[str, ...]:
        """The features each vector holds."""
        return self.plan.outputs

    def get(self, request: Mapping[str, Any], as_of: datetime | None = None,
            overrides: Sequence[str] = ()) -> FeatureVector:
        """Features for one request at ``as_of`` (default: now, UTC). Naive datetimes are read as UTC.

        A missing request input raises ``MissingInputError``, one of the wrong type ``InputTypeError``; keys the
        plan does not read are ignored, but a key named like a node this request computes is an ``InputError``
        unless ``overrides`` names it. An optional input (a parameter with a default) may be left out. An
        exception inside a feature makes it null and is recorded in the vector's ``errors`` (or raises
        ``FeatureError`` with ``errors="raise"``). Request values and ``as_of`` may be numpy scalars, pandas
        values or Decimals (read as their Python values, instants truncated to the microsecond). Raises
        ``TruncatedStateError`` (a ``PointInTimeError``) if a window at ``as_of`` would reach below what the
        window state still holds (ask ``FrameDriver`` for past features).

        Parameters
        ----------
        request
            Request input → value (window features read the source's key, e.g. ``user_id``, from it).
        as_of
            The instant the request is evaluated at; windows cover ``[as_of - w, as_of)``.
        overrides
            Nodes whose values the request's keys of the same name give, instead of computing them (Hamilton's
            overrides).
        """
        if request.__class__ is not dict and not isinstance(request, Mapping):
            raise InputTypeError("request", f"is a {type(request).__name__}, not a mapping of input name to value",
                                 "pass a dict such as {'user_id': 'u1', 'amount': 12.5}")
        compute = self._with_overrides(overrides) if overrides else self._compute
        if as_of.__class__ is datetime and as_of.tzinfo is UTC:  # type: ignore[union-attr]
            return compute(request, as_of)  # (``_instant``'s first test, inlined: this is the hot path)
        return compute(request, _instant(as_of))

    def _with_overrides(self, overrides: Sequence[str]) -> Any:
        """The compiled computation reading ``overrides`` from the request."""
        key = frozenset(overrides)  # the names as given: a repeated call plans nothing
        found = self._overridden.get(key)
        if found is None:
            replaced = self.dag.plan(self.plan.outputs, overrides)
            windows, lookups, errors = self._compile
            context = VectorContext(replaced.clocks, self.plan.lineage)
            kept = frozenset([*replaced.inputs, *replaced.node_names])
            compute = compile_plan(self.plan, windows, lookups, errors, self._locks, context, replaced.overrides,
                                   kept)
            if self.log is not None:
                compute = self.log.recorder(self.plan, compute)
            found = self._overridden[key] = compute
        return found

    def get_many(
        self, requests: Iterable[Mapping[str, Any]], as_of: datetime | Sequence[datetime] | None = None,
        overrides: Sequence[str] = (),
    ) -> list[FeatureVector]:
        """``get`` for each request; ``as_of`` is one instant for all, or one per request.

        Parameters
        ----------
        requests
            The requests, each as for ``get``.
        as_of
            One instant for every request, a sequence of one instant per request (``InputError`` when the lengths
            differ), or ``None`` for now.
        overrides
            As for ``get``.
        """
        if isinstance(requests, Mapping | str | bytes) or not _iterable(requests):
            raise InputTypeError("requests", f"is a {type(requests).__name__}, not an iterable of requests",
                                 "pass a list of dicts (get() takes one request)")
        requests = list(requests)
        instants: Sequence[datetime | None]
        if isinstance(as_of, Sequence) and not isinstance(as_of, str | bytes):
            instants = as_of
        else:
            instants = [as_of] * len(requests)
        if len(instants) != len(requests):
            raise InputError("as_of", f"has {len(instants)} instants for {len(requests)} requests",
                             "pass one instant, or one per request")
        return [self.get(request, instant, overrides) for request, instant in zip(requests, instants, strict=True)]

    def provenance(self, request: Mapping[str, Any], name: str, as_of: datetime | None = None) -> Provenance:
        """The value of ``name`` for ``request`` at ``as_of`` (default: now, UTC) and what made it.

        The same value ``get`` gives, its as-of, and below it: for a window, the events of its window that the
        state holds (id, timestamp, per-event value; deduplicated, in (timestamp, id) order); for a lookup, the
        newest row at ``as_of - lag`` (and whether it was fresh enough); for a derived feature, the provenance
        of each parameter, recursively; request inputs as leaves. ``FrameDriver.provenance`` gives the same tree
        for the same events. Raises what ``get`` raises, ``TruncatedStateError`` included: a window whose events
        the state no longer holds is explained offline. Not logged by a ``FeatureLog``.

        Parameters
        ----------
        request
            Request input → value, as for ``get``.
        name
            A node this driver computes (an output or anything upstream of one).
        as_of
            The instant the request is evaluated at.

        Example::

            from datetime import UTC, datetime

            import fdag
            from fdag.demo import fraud
            from fdag.demo.samples import transactions

            row = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["amount_vs_mean_10d"])
            row.ingest("transactions", transactions(users=20, count=500, days=3))
            prov = row.provenance({"user_id": "u1", "amount": 120.0}, "amount_vs_mean_10d",
                                  as_of=datetime(2024, 3, 4, tzinfo=UTC))
            print(prov.find("spend_mean_10d").value, len(prov.find("spend_mean_10d").events))   # 32.48716666666667 60
            print(prov)   # the tree: the feature, its inputs, the window's events
        """
        if request.__class__ is not dict and not isinstance(request, Mapping):
            raise InputTypeError("request", f"is a {type(request).__name__}, not a mapping of input name to value",
                                 "pass a dict such as {'user_id': 'u1', 'amount': 12.5}")
        with recording_checks():  # an explanation shows a value, whatever its checks say of it
            return self._provenance.explain(request, name, _instant(as_of))

    def ingest(self, source: str | Source, events: Any) -> Any:
        """Feed events of ``source`` (a dict, dicts, a Polars, pandas or Arrow frame) into window state.

        Returns the ingest report: accepted, duplicates, too late, future, and the errors raised by window and
        lookup functions (each made that event's value null; recorded here, once per event, in both error modes).
        The batch is validated whole before any of it is applied (``SourceError`` names the event and the column;
        nothing of the batch is applied); events may arrive in any order, a re-sent id is ignored, an event older
        than the watermark minus the longest window and ``allowed_lateness`` is counted as too late, and one dated
        more than the source's ``max_future`` ahead of the wall clock as future; neither is applied.

        Parameters
        ----------
        source
            The source's name or the ``Source`` itself.
        events
            One event or many, with the source's schema columns.

        Example::

            from datetime import datetime

            import fdag
            from fdag.demo import fraud

            row = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["spend_sum_1h"])
            event = {"txn_id": "t1", "user_id": "u1", "ts": datetime(2024, 3, 1, 10), "amount": 20.0, "merchant": "m1"}
            print(row.ingest("transactions", [event, event]))
            # IngestReport(accepted=1, duplicates=1, too_late=0, future=0, errors=())
        """
        if events.__class__ is dict:  # streaming scoring: one event per request
            one = self._ingest_one.get(source if source.__class__ is str else _source_name(source))
            if one is not None:
                return one(events)
        batch = _event_dicts(_source_name(source), events)
        states = self._state(source)
        if len(states) == 1:
            return states[0].ingest(batch)
        with self._locks[_source_name(source)]:
            for state in states:  # all or nothing across the states, too
                state.validate(batch)
            reports = [state.ingest(batch) for state in states]
        return _merged(reports)

    def bootstrap(self, source: str | Source, history: Any) -> Any:
        """Load ``history`` into window state before the stream.

        ``history`` is a Polars, pandas or Arrow frame, a Parquet path, or rows / columns Polars can build a frame
        from; malformed history raises ``SourceError``, applying nothing, and a frame that any state of the source
        rejects loads into none of them. Only what the windows can still need is kept (the last longest window
        plus ``allowed_lateness``; older rows count as too late), deduplicated by id. Returns the ingest report.
        Then resume the stream from a little before ``watermark(source)``: re-delivered events are ignored by id.

        Parameters
        ----------
        source
            The source's name or the ``Source`` itself.
        history
            The source's events, with its schema columns (a frame, a Parquet path, or rows / columns).
        """
        states = self._state(source)
        name = _source_name(source)
        try:
            if isinstance(history, Mapping | list | tuple):
                # Whatever Polars raises building a frame from these rows says they are not one (it raises
                # OverflowError, RuntimeError or even panics, a BaseException, for some values it cannot type).
                try:
                    history = pl.DataFrame(history)
                except (Exception, pl.exceptions.PanicException) as exc:
                    raise InputError("history", f"cannot be read as a frame ({type(exc).__name__}: {exc})",
                                     "pass rows or columns Polars can build a frame from") from None
            history = to_polars(history, f"history of source '{name}'")
        except InputError as exc:
            raise SourceError(name, f"history {exc.problem}", "pass a Polars, pandas or "
                              "Arrow frame or a Parquet path with the source's columns") from None
        if len(states) == 1:
            return states[0].bootstrap(history)
        with self._locks[name]:
            prepared = [state.prepare(history) for state in states]  # all or nothing across the states
            reports = [state.load(ready) for state, ready in zip(states, prepared, strict=True)]
        return _merged(reports)

    def materialize(self, source: str | Source, snapshot: Any) -> Any:
        """Load rows of a snapshot source (for ``@fdag.lookup`` features): a frame, Parquet path or dicts.

        A frame or path is loaded like ``bootstrap``, dicts like ``ingest``; a lookup then reads the newest row with
        ``ts + lag <= as_of``. Returns the ingest report.

        Parameters
        ----------
        source
            The source's name or the ``Source`` itself.
        snapshot
            The snapshot rows, with the source's schema columns.
        """
        if isinstance(snapshot, str | Path) or hasattr(snapshot, "to_dicts") or hasattr(snapshot, "to_pylist"):
            return self.bootstrap(source, snapshot)
        return self.ingest(source, snapshot)

    def consume(
        self,
        source: str | Source,
        log: StreamLog,
        *,
        group: str,
        consumer: str,
        batch: int = 1000,
        claim_after: float = 30.0,
        max_deliveries: int = 5,
    ) -> StreamWorker:
        """A worker feeding ``source``'s events from ``log`` (e.g. ``fdag.RedisStream``) into this driver's state.

        The worker reads a batch in consumer group ``group`` (created at the log's start if absent), ingests it,
        then acknowledges it: at-least-once delivery, exactly-once effect for a source with ids. Malformed entries
        go to the log's dead letters with their reason. Call ``run()`` on the worker; ``stats`` tells what it did.

        Parameters
        ----------
        source
            The source's name or the ``Source`` itself.
        log
            The stream log (``fdag.RedisStream``, ``fdag.MemoryStream``, or any ``fdag.StreamLog``).
        group
            The consumer group: its workers share the stream, each entry goes to one of them.
        consumer
            This worker's name in the group. Keep it across restarts: a restarted worker re-reads what it left
            pending.
        batch
            Entries per read (and per ingest).
        claim_after
            Seconds an entry may stay pending on another consumer before this one takes it over.
        max_deliveries
            An entry delivered more often than this without being acknowledged (ingesting it ends the worker
            each time) goes to the dead letters instead of being ingested again (at least 3).

        Example::

            from datetime import datetime

            import fdag
            from fdag.demo import fraud

            log = fdag.MemoryStream("transactions", source=fraud.transactions)
            log.publish({"txn_id": "t1", "user_id": "u1", "ts": datetime(2024, 3, 1, 10), "amount": 20.0,
                         "merchant": "m1"})
            row = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["spend_sum_1h"])
            worker = row.consume("transactions", log, group="features", consumer="w1")
            print(worker.run(max_events=1).applied)
            # 1
        """
        from fdag._streams.worker import StreamWorker

        states = self._state(source)
        declared = self.plan.sources[_source_name(source)]

        def validate(events: list[Mapping[str, Any]]) -> None:
            for state in states:
                state.validate(events)

        return StreamWorker(declared, log, lambda events: self.ingest(declared, events), validate, group=group,
                            consumer=consumer, batch=batch, claim_after=claim_after, max_deliveries=max_deliveries)

    def watermark(self, source: str | Source) -> datetime | None:
        """The largest event timestamp of ``source`` seen so far (None before any): record it to resume a stream.

        Parameters
        ----------
        source
            The source's name or the ``Source`` itself.
        """
        marks = [state.watermark for state in self._state(source) if state.watermark is not None]
        return max(marks, default=None)

    def held(self, source: str | Source) -> int | None:
        """How many events of ``source`` the window state holds (None when the store cannot tell).

        Parameters
        ----------
        source
            The source's name or the ``Source`` itself.
        """
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


def _iterable(value: Any) -> bool:
    """Whether ``iter(value)`` works (a 0-d numpy array is an ``Iterable`` whose iteration raises)."""
    try:
        iter(value)
    except TypeError:
        return False
    return True


def _merged(reports: list[Any]) -> Any:
    """One report for the states of one source: the first state's counts (the events are the same), and the
    errors of every state (each computes its own functions)."""
    return replace(reports[0], errors=tuple(error for report in reports for error in report.errors))


def _source_name(source: str | Source) -> str:
    """A source's name, given the name or the Source."""
    if isinstance(source, Source):
        return source.name
    if not isinstance(source, str):
        raise InputTypeError("source", f"is a {type(source).__name__}, not a source name or an fdag.Source",
                             "pass the source's name (e.g. 'transactions') or the Source itself")
    return source


_INSTANT = FType(datetime)


def _instant(as_of: datetime | None) -> datetime:
    if as_of.__class__ is datetime and as_of.tzinfo is UTC:  # type: ignore[union-attr]
        return as_of  # type: ignore[return-value]
    if as_of is None:
        return datetime.now(UTC)
    hint = "pass a datetime (naive ones are read as UTC) or None for now"
    try:  # a pandas Timestamp or numpy datetime64 too, to the microsecond, in UTC
        instant = coerce_value(as_of, _INSTANT)
    except (TypeError, OverflowError) as exc:
        raise InputTypeError("as_of", str(exc), hint) from None
    if instant is None:  # NaN, pd.NaT
        raise InputTypeError("as_of", f"is a {type(as_of).__name__} ({as_of!r}), not a datetime", hint)
    return instant  # type: ignore[no-any-return]


def _per_event_values(specs: Sequence[WindowSpec | LookupSpec]) -> dict[str, Any]:
    """value column -> fn(event) giving the per-event value under the null and error rules of every feature: a
    null argument for a non-optional parameter gives null; an error is raised, for the store to record it.

    Value columns whose functions are proven to compute the same value (``value_identity``) get the same function
    object, so a store may compute and hold them once.
    """
    values: dict[str, Any] = {}
    same: dict[Hashable, Any] = {}
    for spec in specs:
        if spec.value_column in values:
            continue
        identity = value_identity(spec.function, spec.event_params(), spec.value_type)
        if identity is None:
            values[spec.value_column] = _event_value(spec)
        else:
            if identity not in same:
                same[identity] = _event_value(spec)
            values[spec.value_column] = same[identity]
    return values


def _event_value(spec: WindowSpec | LookupSpec) -> Any:
    """The per-event (per-row, for a lookup) value function of one spec; it raises what the function raised (the
    store records it and takes null)."""
    return mapping_call(spec.function, spec.event_params(), spec.value_type)


def _event_dicts(source: str, events: Any) -> Any:
    """The events as a list of dicts (values as given, checked by the state)."""
    if isinstance(events, Mapping):
        return [events]
    if isinstance(events, pl.DataFrame):
        outside = beyond_python(events)
        if outside is not None:
            raise SourceError(source, "is outside years 1 to 9999, which Python's datetime cannot hold",
                              "drop or repair the event", column=outside[0], where=f"event {outside[1]}")
    if hasattr(events, "to_dicts"):  # Polars
        return events.to_dicts()
    if hasattr(events, "to_pylist"):  # Arrow
        return events.to_pylist()
    if type(events).__module__.startswith("pandas") and hasattr(events, "to_dict"):
        # Row by row: each value is read as the state reads a value (numpy, pd.NA, Timestamps), and a bad one
        # is named with its event index.
        return events.to_dict("records")
    try:
        return list(events)  # once: several states read the batch
    except TypeError:
        return events  # not iterable: the state refuses it with a SourceError naming the source
