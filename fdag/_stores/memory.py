"""Online state of one source, held in process memory: ingest events, answer window and lookup queries.

For key ``k`` at ``as_of = t`` each spec aggregates the per-event values of the events with key ``k`` and
timestamp in ``[t - over, t)`` (``closed="both"``: ``[t - over, t]``), exactly as the offline engine does:
ints exact, floats within 1e-6 of the exact window value however long the state has run.

State is bounded. With ``watermark`` the largest event timestamp seen and ``retention`` the longest window
over the source plus its ``allowed_lateness``, each key keeps the events with timestamp
``>= watermark - retention`` — all that a query at ``as_of >= watermark - allowed_lateness`` can see.
Older events are evicted in amortised batches. An id is remembered for deduplication while its event is
within that horizon as it stood when the batch began (exactly as ``RedisStore`` remembers it), whenever the
event itself is evicted, so both stores count a late re-sent copy alike. An arriving
event older than that horizon could not be placed among the evicted ones, and would change nothing such a
query sees: it is counted as ``too_late`` and not applied. An event dated more than the source's
``max_future`` ahead of the wall clock is counted as ``future`` and not applied, by window and lookup state.

A window query whose longest window would reach below what the state may have lost (rejected, skipped or
evicted events; see ``horizon``) raises ``TruncatedStateError`` instead of answering short; a state that lost
nothing answers any ``as_of``.

Lookup state holds every row (a lookup may reach back arbitrarily far): nothing is evicted or too late, so it
is always complete, and a query is one binary search per lag in the key's rows.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import polars as pl

from fdag._aggregations.column_index import ColumnPlan
from fdag._aggregations.list_room import reserve
from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._stores.event_values import Failures
from fdag._stores.events import CheckedEvent
from fdag._stores.history import History
from fdag._stores.horizon import NEVER, NO_EVENT, answerable_from, complete_from, truncated
from fdag._stores.key_events import KeyEvents
from fdag._stores.lookup_query import LookupQuery, Row
from fdag._stores.protocol import HeldEvent, IngestReport
from fdag._stores.query import WindowQuery
from fdag._stores.seen_ids import SHARD_MASK, SHARD_SHIFT, SeenIds
from fdag._stores.state_config import KEEP_ALL, StateConfig, ValueFunction, stored_columns, window_retention
from fdag._values.calls import error_records
from fdag._values.instants import EPOCH, MICROSECOND, micros

_EVICT_EVERY = 64  # appends to one key between checks of its oldest events
_EVICT_MIN = 64  # evict a key's expired events only once there are this many (or a quarter of its events)
_SWEEP_MIN = 65_536  # a pass of the sweep over every key takes at least this many accepted events
_NO_WATERMARK = -(2**63)
_ACCEPTED, _DUPLICATE, _TOO_LATE, _FUTURE = (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 0, 1)  # one event's counts
_ONE_EVENT = {  # the report of one event without errors, by its counts
    _ACCEPTED: IngestReport(accepted=1), _DUPLICATE: IngestReport(duplicates=1),
    _TOO_LATE: IngestReport(too_late=1), _FUTURE: IngestReport(future=1),
}


class MemoryEvents(StateConfig):
    """The events of one source held per key in memory, with the specs' per-event values; thread-safe.

    Ingest, bootstrap, deduplication, ``max_future`` and eviction below ``watermark - retention`` (µs;
    ``KEEP_ALL`` keeps everything), and from when the state is complete (``horizon.complete_from``: never
    bounded under ``KEEP_ALL``). ``plans`` give the derived arrays each value column keeps per key (none for
    lookups).
    """

    def __init__(
        self, source: Source, specs: Sequence[WindowSpec | LookupSpec], columns: tuple[str, ...],
        values: Mapping[str, ValueFunction], plans: tuple[ColumnPlan, ...], retention: int,
        stored_as: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(source, specs, columns, values, retention, stored_as)
        self._plans = plans
        self._keys: dict[Any, KeyEvents] = {}
        self._seen = SeenIds() if source.id else None  # id -> timestamp (µs) of its first copy
        self._watermark = _NO_WATERMARK
        self._watermark_at: datetime | None = None
        self._oldest = NO_EVENT  # the oldest timestamp (µs) ever accepted
        self._dropped = NEVER  # the newest timestamp (µs) rejected as too late or skipped by a bootstrap
        self._complete = NEVER  # the state holds every event from this instant (µs) on
        self._sweep_due = 0  # accepted events not yet paid for by the sweep (see _sweep_some)
        self._sweep_every = 1  # accepted events per key the sweep checks, set as each pass starts
        self._sweep_queue: list[Any] = []  # the keys the sweep's current pass has still to check
        self._lock = threading.Lock()

    @property
    def watermark(self) -> datetime | None:
        """The largest event timestamp seen (UTC), or None before the first event."""
        return self._watermark_at

    @property
    def held(self) -> int:
        """How many events the state holds across all keys (bounded by retention)."""
        with self._lock:
            return sum(events.live for events in self._keys.values())

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> IngestReport:
        """Apply a batch of events (dicts with the source's columns), in order; all or nothing.

        The whole batch is validated first: a malformed event raises ``SourceError`` and nothing is applied.
        Events whose id is already held (or earlier in the batch) are ``duplicates``; events older than the
        retention horizon are ``too_late``, events beyond ``max_future`` are ``future`` (see the module
        docstring); none of them is applied.
        """
        checked = self._checker.check(events)
        failures: Failures = []
        values = self._values.batch([event for _, _, _, event in checked], failures)
        cutoff = self._checker.future_cutoff()
        with self._lock:
            counts = self._apply(checked, values, cutoff)
        return IngestReport(*counts, error_records(failures) if failures else ())

    def ingest_one(self, event: Mapping[str, Any]) -> IngestReport:
        """``ingest([event])`` without the batch around it (streaming scoring ingests one event per request): the
        same checks, rules, recorded errors and report."""
        key, ts, event_id, checked = self._checker.check_one(event)
        failures: Failures = []
        values = self._values.of(checked, failures)
        cutoff = self._checker.future_cutoff()
        with self._lock:
            counts = self._apply_one(key, ts, event_id, values, cutoff)
        if failures:
            return IngestReport(*counts, error_records(failures))
        return _ONE_EVENT.get(counts) or IngestReport(*counts)  # reports are immutable: one per outcome

    def bootstrap(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> IngestReport:
        """Load a history frame, vectorised; ``values`` may give value columns precomputed, aligned with rows.

        Rows beyond ``max_future`` are counted ``future`` and skipped; the rest are deduplicated by id (the
        earliest copy wins, by timestamp then frame order, as offline; then against held ids); rows older than
        the retention horizon of the resulting watermark are counted ``too_late`` and skipped. Value columns not
        given are computed row by row with the value functions (the slow path).
        """
        return self.load(self.prepare(frame, values))

    def load(self, history: History) -> IngestReport:
        """Apply a history this state ``prepare``d (the second half of ``bootstrap``)."""
        with self._lock:
            top = max(self._watermark, history.latest)
            kept = history.filter(top - self._retention if top != _NO_WATERMARK else _NO_WATERMARK,
                                  self._remembered(self._watermark - self._retention))
            accepted = 0
            for key, start, end in kept.groups:
                accepted += end - start
                events = self._keys.get(key)
                ids = kept.ids[start:end] if kept.ids is not None else None
                if events is None:
                    events = self._keys[key] = KeyEvents(self._plans, self._seen is not None, kept.ts[start:end],
                                                         ids, [column[start:end] for column in kept.values])
                    reserve([events.ts, *([events.ids] if events.ids is not None else []), *events.raw],
                            end - start)  # room for the stream that follows
                    continue
                for row in range(start, end):
                    events.place(kept.ts[row], kept.ids[row] if kept.ids is not None else None, kept.values, row)
            if self._seen is not None and kept.ids is not None:
                self._seen.update(zip(kept.ids, kept.ts, strict=True))
            if kept.oldest is not None:
                self._oldest = min(self._oldest, kept.oldest)
            if kept.newest_late is not None:
                self._dropped = max(self._dropped, kept.newest_late)
            self._advance(top)
            self._sweep()
        return IngestReport(accepted, history.duplicates + kept.duplicates, kept.too_late, history.future,
                            history.errors)

    def _apply(self, checked: Sequence[CheckedEvent], values: list[list[Any]], cutoff: int
               ) -> tuple[int, int, int, int]:
        """Apply checked events (``values``: each stored column's values of them) one by one, the watermark moving
        as they arrive; the caller holds the lock. Returns the report's counts: accepted, duplicates, too late and
        future.

        Events after ``cutoff`` (µs) are beyond ``max_future`` and skipped first, so their ids are not seen.
        """
        keys, seen, plans, width = self._keys, self._seen, self._plans, len(self.columns)
        shards = seen.shards if seen is not None else []
        retention = self._retention
        top = self._watermark
        horizon = remembered = top - retention  # ids of events below ``remembered`` are forgotten
        oldest, dropped = self._oldest, self._dropped
        accepted = duplicates = too_late = future = 0
        for position, (key, ts, event_id, _) in enumerate(checked):
            if ts > cutoff:
                future += 1
                continue
            if seen is not None:
                shard = shards[hash(event_id) >> SHARD_SHIFT & SHARD_MASK]  # (seen.shard_of, inline)
                held = shard.get(event_id)
                if held is not None and held >= remembered:
                    duplicates += 1
                    continue
            if ts > top:
                top = ts
                horizon = ts - retention
            elif ts < horizon:
                too_late += 1
                if ts > dropped:
                    dropped = ts
                continue
            if ts < oldest:
                oldest = ts
            if seen is not None:
                shard[event_id] = ts
            events = keys.get(key)
            if events is None:
                events = keys[key] = KeyEvents(plans, seen is not None, [], None, [[] for _ in range(width)])
            events.place(ts, event_id, values, position)
            accepted += 1
            if not len(events.ts) % _EVICT_EVERY and events.ts[events.dead] < horizon:
                self._evict(events, horizon, _EVICT_MIN)
        self._oldest, self._dropped = oldest, dropped
        self._advance(top)
        self._sweep_due += accepted
        if self._sweep_due >= self._sweep_every:
            self._sweep_some()
        return accepted, duplicates, too_late, future

    def _apply_one(self, key: Any, ts: int, event_id: Any, values: list[Any], cutoff: int
                   ) -> tuple[int, int, int, int]:
        """``_apply`` of one checked event (``values``: its value of each stored column), without the loop and the
        per-column lists a batch needs: the same rules in the same order, the same counts."""
        if ts > cutoff:
            return _FUTURE
        seen, retention = self._seen, self._retention
        top = self._watermark
        if seen is not None:
            shard = seen.shard_of(event_id)
            held = shard.get(event_id)
            if held is not None and held >= top - retention:
                return _DUPLICATE
        if ts > top:
            top = ts
        elif ts < top - retention:
            if ts > self._dropped:
                self._dropped = ts
                self._advance(top)  # the state no longer holds every event from its oldest on
            return _TOO_LATE
        horizon = top - retention
        if ts < self._oldest:
            self._oldest = ts
        if seen is not None:
            shard[event_id] = ts
        keys = self._keys
        events = keys.get(key)
        if events is None:
            events = keys[key] = KeyEvents(self._plans, seen is not None, [], None, [[] for _ in self.columns])
        events.append(ts, event_id, values)
        if not len(events.ts) % _EVICT_EVERY and events.ts[events.dead] < horizon:
            self._evict(events, horizon, _EVICT_MIN)
        self._advance(top)
        self._sweep_due += 1
        if self._sweep_due >= self._sweep_every:
            self._sweep_some()
        return _ACCEPTED

    def _advance(self, top: int) -> None:
        """Move the watermark to ``top`` (µs), keeping its datetime and ``complete_from`` ready."""
        if top != self._watermark:
            self._watermark = top
            self._watermark_at = EPOCH + top * MICROSECOND
        self._complete = complete_from(top, self._retention, self._oldest, self._dropped)

    def _evict(self, events: KeyEvents, horizon: int, minimum: int) -> None:
        """Evict ``events`` older than ``horizon`` if at least ``minimum`` (or a quarter of them) are expired."""
        expired = events.expired(horizon)
        if expired and (expired >= minimum or 4 * expired >= events.live):
            ids, stamps = events.evict_before(horizon)
            seen = self._seen
            if seen is not None:
                for event_id, ts in zip(ids, stamps, strict=True):
                    if seen.get(event_id) == ts:  # (not a later copy accepted once this one was forgotten)
                        seen.forget(event_id)

    def _remembered(self, horizon: int) -> set[Any] | None:
        """The ids still remembered against events arriving while the state's horizon is ``horizon``."""
        if self._seen is None:
            return None
        return {event_id for event_id, ts in self._seen.items() if ts >= horizon}

    def _sweep(self) -> None:
        """Evict expired events of every key and drop keys left empty (after a bootstrap, which is a batch job)."""
        self._sweep_due = 0
        self._sweep_queue = list(self._keys)
        self._sweep_keys(len(self._sweep_queue))

    def _sweep_some(self) -> None:
        """Check the next keys of the sweep's pass over every key (quiet keys, which no ingest touches, expire too):
        one per ``_sweep_every`` accepted events, so a pass over ``n`` keys takes about ``max(_SWEEP_MIN, n)``
        events and no ingest checks more keys than it accepted events — the amortised cost of a sweep of every key
        at once, without its stall (1.3 s for the one ingest that ran it at 300,000 keys)."""
        budget, self._sweep_due = divmod(self._sweep_due, self._sweep_every)
        self._sweep_keys(budget)

    def _sweep_keys(self, budget: int) -> None:
        """Check ``budget`` keys of the sweep's pass (a new pass starts from a copy of the keys): evict their expired
        events and drop the keys left empty."""
        if self._watermark == _NO_WATERMARK:
            return
        horizon = self._watermark - self._retention
        keys, queue = self._keys, self._sweep_queue
        for _ in range(budget):
            if not queue:  # a new pass
                queue.extend(keys)  # (one C-level copy per pass)
                if not queue:
                    return
                self._sweep_every = max(1, _SWEEP_MIN // len(queue))
            key = queue.pop()
            events = keys.get(key)
            if events is not None and events.ts[events.dead] < horizon:
                self._evict(events, horizon, 1)
                if not events.live:
                    del keys[key]

    def __repr__(self) -> str:
        specs = [spec.node for spec in self.specs]
        return f"{type(self).__name__}({self.source.name!r}, specs={specs}, keys={len(self._keys)})"


class MemoryWindowState(MemoryEvents):
    """Window state of one source for a fixed list of specs, in memory; thread-safe.

    Example::

        state = fdag.MemoryStore().window_state(transactions, specs, {"__value__amount": lambda e: e["amount"]})
        state.ingest([{"txn_id": "t1", "user_id": "u1", "ts": now, "amount": 20.0}])
        values, watermark = state.query("u1", as_of)
    """

    def __init__(
        self, source: Source, specs: Sequence[WindowSpec], values: Mapping[str, ValueFunction]
    ) -> None:
        stored_as = stored_columns(specs, values)
        self._query = WindowQuery(specs, stored_as)
        self._longest, retention = window_retention(source, specs)
        super().__init__(source, specs, self._query.columns, values, self._query.plans, retention, stored_as)
        self._answerable = NEVER  # a query is exact from this as_of (µs) on
        self._as_of_cache: tuple[datetime | None, int] = (None, 0)

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], datetime | None]:
        """The specs' values for ``key`` at ``as_of`` (aligned with the specs), and the watermark.

        Raises ``TruncatedStateError`` if the longest window at ``as_of`` reaches below data that may be gone.
        """
        cached, t = self._as_of_cache
        if cached is not as_of:
            t = micros(as_of)
            self._as_of_cache = (as_of, t)
        with self._lock:
            if t < self._answerable:
                raise truncated(self.source.name, as_of, self._longest, self._complete)
            events = self._keys.get(key)
            if events is None:
                return self._query.empty(), self._watermark_at
            if events.stale is not None:
                events.refresh()
            return self._query.evaluate(events.ts, events.index, t), self._watermark_at

    def events(self, key: Any, as_of: datetime) -> tuple[list[HeldEvent], datetime | None]:
        """The key's held events with ``as_of - longest window <= ts <= as_of`` in (timestamp, id) order, each
        ``(ts µs, id or None, value column -> value)``, and the watermark (what a provenance lists).

        Raises ``TruncatedStateError`` where ``query`` does: those events may be gone.
        """
        t = micros(as_of)
        with self._lock:
            if t < self._answerable:
                raise truncated(self.source.name, as_of, self._longest, self._complete)
            events = self._keys.get(key)
            if events is None:
                return [], self._watermark_at
            start = bisect_left(events.ts, t - self._query.longest, events.dead)  # never the evicted prefix
            end = bisect_right(events.ts, t)
            ids = events.ids[start:end] if events.ids is not None else [None] * (end - start)
            raw = events.raw
            held = [(ts, event_id, {column: raw[j][p] for column, j in self._readers})
                    for p, ts, event_id in zip(range(start, end), events.ts[start:end], ids, strict=True)]
            return held, self._watermark_at

    def _advance(self, top: int) -> None:
        """Move the watermark, keeping the earliest exact ``as_of`` of the longest window ready too."""
        super()._advance(top)
        self._answerable = answerable_from(self._complete, self._longest)


class MemoryLookupState(MemoryEvents):
    """Lookup state of one source for a fixed list of specs, in memory: every row kept; thread-safe.

    Example::

        state = fdag.MemoryStore().lookup_state(balances, specs, {"__lookup__balance_then": lambda r: r["balance"]})
        state.ingest([{"user_id": "u1", "ts": midnight, "balance": 20.0}])
        values, as_ofs = state.query("u1", as_of)
    """

    def __init__(self, source: Source, specs: Sequence[LookupSpec], values: Mapping[str, ValueFunction]) -> None:
        self._query = LookupQuery(specs)
        super().__init__(source, specs, self._query.columns, values, (), KEEP_ALL)

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], list[datetime | None]]:
        """The specs' values for ``key`` at ``as_of`` (aligned with the specs) and each value's as-of."""
        t = micros(as_of)
        rows, watermark = self._newest(key, t)
        return self._query.answer(rows, t, watermark)

    def newest(self, key: Any, as_of: datetime) -> tuple[list[Row], int | None]:
        """The key's newest row at ``as_of - lag`` for each lag (aligned with ``LookupQuery.lags``), and the
        watermark (µs, None before any row)."""
        return self._newest(key, micros(as_of))

    def _newest(self, key: Any, t: int) -> tuple[list[Row], int | None]:
        cutoffs = self._query.cutoffs(t)
        with self._lock:
            watermark = None if self._watermark == _NO_WATERMARK else self._watermark
            events = self._keys.get(key)
            rows: list[Row] = [None] * len(cutoffs)
            if events is not None:
                ts, raw, ids = events.ts, events.raw, events.ids
                for lag, cutoff in enumerate(cutoffs):
                    # Rows are in (timestamp, id) order, ties by arrival without ids: the last one at or before
                    # the cutoff is the newest.
                    position = bisect_right(ts, cutoff) - 1
                    if position >= 0:
                        rows[lag] = (ts[position], [column[position] for column in raw],
                                     None if ids is None else ids[position])
        return rows, watermark


class MemoryStore:
    """The embedded default store: window and lookup state in this process's memory, lost when it exits.

    Each driver gets its own state, so every replica must ingest every event (or ``bootstrap`` at start-up).
    Window state is bounded: per key, only events within the longest window plus ``allowed_lateness`` of the
    watermark are kept. Sums are exact or within 1e-10 relative of the exact window value, however long it runs.
    Thread-safe: one driver may serve and ingest from many threads.

    Example::

        from datetime import UTC, datetime

        import fdag
        from fdag.demo import fraud
        from fdag.demo.samples import transactions

        row = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["spend_sum_1h"], store=fdag.MemoryStore())
        row.bootstrap("transactions", transactions(users=20, count=500, days=3))
        print(row.watermark("transactions"))   # 2024-03-03 23:51:38+00:00
        print(row.held("transactions"))        # 5: a 1h window with 10m lateness keeps the last 70 minutes
    """

    def window_state(
        self,
        source: Source,
        specs: Sequence[WindowSpec],
        values: Mapping[str, Callable[[Mapping[str, Any]], Any]],
    ) -> MemoryWindowState:
        """A fresh, independent in-memory state for ``specs`` over ``source``.

        ``RowDriver`` calls this once per window source of its plan.

        Parameters
        ----------
        source
            The source whose events the state holds.
        specs
            The window specs of the plan over that source.
        values
            Value column → the per-event function giving it (under the features' null and error rules).
        """
        return MemoryWindowState(source, specs, values)

    def lookup_state(
        self,
        source: Source,
        specs: Sequence[LookupSpec],
        values: Mapping[str, Callable[[Mapping[str, Any]], Any]],
    ) -> MemoryLookupState:
        """A fresh, independent in-memory lookup state for ``specs`` over ``source``.

        ``RowDriver`` calls this once per lookup source of its plan.

        Parameters
        ----------
        source
            The source whose rows the state holds.
        specs
            The lookup specs of the plan over that source.
        values
            Value column → the per-row function giving it (under the features' null and error rules).
        """
        return MemoryLookupState(source, specs, values)

    def __repr__(self) -> str:
        return "MemoryStore()"
