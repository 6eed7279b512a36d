"""``RedisWindowState``: window state in Redis, read from pre-aggregated tiles; values equal ``MemoryWindowState``'s.

A query is one script call (``redis_window_scripts.TILE_QUERY``): per window of the specs read from tiles, the
merged tiles inside it and the ranges it reads raw (where its edges cut a tile or a tile is missing), and once
for all windows the raw events of those ranges, of the events at the tiles' first and last timestamps and of the
specs read raw (``TilePlan.raw``, their longest window): windows ending at the same instant share their edge
events, read and decoded once. Values are then computed here from exact partial states
(``fdag._aggregations.tiled``) and, for raw specs, with the shared query plan of every store (``query``). Beyond
the years Redis scores hold exactly, or where a tile is inexact, the query reads the longest window's raw events
instead (``QUERY``), as it did before tiles.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left, bisect_right
from collections.abc import Mapping, Sequence
from datetime import datetime
from fractions import Fraction
from itertools import chain
from operator import lt
from typing import Any

from fdag._aggregations.tiled import Partial
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._stores import redis_window_scripts
from fdag._stores.horizon import NEVER, NO_EVENT, answerable_from, complete_from, truncated
from fdag._stores.protocol import HeldEvent
from fdag._stores.query import WindowQuery
from fdag._stores.redis_events import Connection, RedisEvents
from fdag._stores.redis_tiles import SAFE, TilePlan, parse_merged
from fdag._stores.state_config import ValueFunction, stored_columns, window_retention
from fdag._values.instants import EPOCH, MICROSECOND, micros

Fields = list[list[Any]]  # decoded events field by field: ts, id, the value columns (ts, the values, arrival number)
Ranges = list[tuple[int, int]]  # [from, to) positions into the decoded events
Window = tuple[list[list[str]] | None, Ranges, Ranges]  # merged tiles (None: no tile), edge events, first/last


class RedisWindowState(RedisEvents):
    """Window state of one source for fixed specs, kept in Redis; values equal ``MemoryWindowState``'s.

    Example::

        state = fdag.RedisStore(url).window_state(transactions, specs, {"__value__amount": lambda e: e["amount"]})
        state.ingest([{"txn_id": "t1", "user_id": "u1", "ts": now, "amount": 20.0}])
        values, watermark = state.query("u1", as_of)
    """

    def __init__(
        self, store: Connection, source: Source, specs: Sequence[WindowSpec], values: Mapping[str, ValueFunction]
    ) -> None:
        stored_as = stored_columns(specs, values)  # each per-event value stored once, as MemoryStore does
        self._query = WindowQuery(specs, stored_as)
        self._longest, retention = window_retention(source, specs)
        self._plan = TilePlan(specs, self._query.columns, stored_as, retention, source.id is not None)
        super().__init__(store, source, specs, self._query.columns, values, retention, self._plan.config, stored_as)
        self._raw_query = WindowQuery(self._plan.raw_specs, stored_as) if self._plan.raw else None
        raw_columns = self._raw_query.columns if self._raw_query else ()
        self._raw_columns = [self.columns.index(column) for column in raw_columns]
        self._clock_keys = (self._roles[0], self._roles[4])
        # The stored texts of watermark, oldest and dropped, and what they give: the watermark, complete_from
        # and the earliest exact as_of (µs). They change far less often than they are read.
        self._clock_cache: tuple[tuple[bytes, ...], datetime | None, int, int] = ((b"", b"", b""), None, NEVER, NEVER)

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], datetime | None]:
        """The specs' values for ``key`` at ``as_of`` (aligned with the specs), and the watermark: one round trip.

        Raises ``TruncatedStateError`` if the longest window at ``as_of`` reaches below data that may be gone.
        """
        t = micros(as_of)
        if not (t - self._query.longest > -SAFE and t < SAFE):
            return self.query_raw(key, as_of)
        plan = self._plan
        keys = (self._key_name(key), *self._clock_keys, f"{self.prefix}t:{key}")
        reply = self.store.script("tile_query", redis_window_scripts.TILE_QUERY, keys, plan.args(t, self._retention))
        watermark, complete, answerable = self._clock_of((reply[0], reply[1], reply[2]))
        if t < answerable:
            raise truncated(self.source.name, as_of, self._longest, complete)
        values: list[Any] = [None] * len(self.specs)
        events = self._decode(reply[4])
        if reply[3]:  # no tile kept: every window from the longest one's events
            return self._from_events(values, events, t), watermark
        if plan.raw_over is not None:
            self._fill_raw(values, events, bisect_left(events[0], t - plan.raw_over), t)
        windows = [self._window_parts(events[0], parse_merged(text), spans, ordered)
                   for (text, spans), (_, _, ordered) in zip(reply[5:], plan.windows, strict=True)]
        if not self._tiled(values, events, windows, t):  # a tile is inexact: from the longest window's raw events
            return self._from_events(values, self._window_events(key, t, self._query.closed_both)[0], t), watermark
        return values, watermark

    def query_raw(self, key: Any, as_of: datetime) -> tuple[list[Any], datetime | None]:
        """``query`` from the raw events of the longest window (one round trip; no tiles read), with the in-memory
        query plan: what every window query did before tiles, and does where a value is not finite."""
        t = micros(as_of)
        events, watermark = self._window_events(key, t, self._query.closed_both)
        return self._planned(events, t), watermark

    def _from_events(self, values: list[Any], events: Fields, t: int) -> list[Any]:
        """Every spec's value from the longest window's ``events``: the tiled specs from exact partial states of
        the events, as from tiles, unless a value is not finite (then all with the in-memory query plan)."""
        every: Window = (None, [(0, len(events[0]))], [])
        if not self._tiled(values, events, [every] * len(self._plan.windows), t):
            return self._planned(events, t)
        self._fill_raw(values, events, 0, t)
        return values

    def _fill_raw(self, values: list[Any], events: Fields, low: int, t: int) -> None:
        """Fill in the values of the specs read raw (``TilePlan.raw``) from ``events`` from position ``low`` on,
        reaching back at least their longest window."""
        if self._raw_query is not None:
            ts = events[0][low:]
            raw = self._raw_query.values(ts, self._columns(events, self._raw_columns, low), t) if ts else \
                self._raw_query.empty()
            for position, value in zip(self._plan.raw, raw, strict=True):
                values[position] = value

    def _planned(self, events: Fields, t: int) -> list[Any]:
        """Every spec's value from the longest window's ``events`` with the in-memory query plan."""
        ts = events[0]
        return self._query.values(ts, self._columns(events, range(len(self.columns)), 0), t) if ts else \
            self._query.empty()

    @staticmethod
    def _window_parts(ts: list[int], merged: list[list[str]] | None, spans: list[int], ordered: bool) -> Window:
        """One window's merged tiles, edge events and first/last candidates, as position ranges into the query's
        events (timestamps ``ts``): the events in its ``spans`` (``[from, to)`` µs pairs, ascending), and where it
        has tiles and an ordered spec, the events at the merged first and last timestamps of any column."""
        edges = [(bisect_left(ts, spans[j]), bisect_left(ts, spans[j + 1])) for j in range(0, len(spans), 2)]
        candidates: Ranges = []
        if merged is not None and ordered:
            for at in sorted({int(float(v)) for column in merged for v in column[1:3] if v}):
                candidates.append((bisect_left(ts, at), bisect_right(ts, at)))
        return merged, edges, candidates

    def _tiled(self, values: list[Any], events: Fields, windows: list[Window], t: int) -> bool:
        """Fill in the tiled specs' values from each window's merged tiles, edge events and first/last candidates
        (aligned with ``TilePlan.windows``; positions into ``events``); False if a value cannot be combined exactly
        or overflows a double (the in-memory query plan then computes every value, as ``MemoryWindowState``
        does)."""
        partials: dict[tuple[int, bool, int], Partial] = {}
        ts = events[0]
        before = bisect_left(ts, t)  # the events before as_of end here
        for spec in self._plan.tiled:
            found = partials.get((spec.window, spec.both, spec.column))
            if found is None:
                merged, edges, candidates = windows[spec.window]
                # Without tiles the edges may reach below the window: cut them at its start.
                low = 0 if merged is not None else bisect_left(ts, t - self._plan.windows[spec.window][0])
                high = len(ts) if spec.both else before
                inside = [(max(lo, low), min(hi, high)) for lo, hi in edges if max(lo, low) < min(hi, high)]
                found = self._partial(merged, spec.column, events, inside, candidates)
                if found is None:
                    return False
                partials[spec.window, spec.both, spec.column] = found
            try:
                values[spec.position] = spec.aggregate(found)
            except OverflowError:  # the exact value is beyond the doubles (a variance of floats beyond 1e154)
                return False
        return True

    def events(self, key: Any, as_of: datetime) -> tuple[list[HeldEvent], datetime | None]:
        """The key's held events with ``as_of - longest window <= ts <= as_of`` in (timestamp, id) order, each
        ``(ts µs, id or None, value column -> value)``, and the watermark: one round trip (what a provenance
        lists; raw events, never tiles).

        Raises ``TruncatedStateError`` where ``query`` does: those events may be gone.
        """
        t = micros(as_of)
        events, watermark = self._window_events(key, t, True)
        ts, start = events[0], self._value_slice.start
        ids = events[1] if self._with_ids else [None] * len(ts)
        low, fields = t - self._query.longest, [(column, events[start + j]) for column, j in self._readers]
        return [(ts[p], ids[p], {column: field[p] for column, field in fields})
                for p in range(len(ts)) if low <= ts[p] <= t], watermark  # beyond 2**53 µs the fetched range is wider

    def _window_events(self, key: Any, t: int, inclusive: bool) -> tuple[Fields, datetime | None]:
        """The decoded events of ``key`` in the longest window at ``t`` (µs), ``t`` itself included if
        ``inclusive``, and the watermark (checking the window is answerable)."""
        # Scores are float64: beyond 2**53 µs widen the range by the rounding step and let bisection cut exactly.
        margin = 0 if -SAFE < t < SAFE else 1 + (abs(t) >> 52)
        low = t - self._query.longest - margin
        high = t + margin if (margin or inclusive) else f"({t}"
        reply = self.store.script("query", redis_window_scripts.QUERY, (self._key_name(key), *self._clock_keys),
                                  (low, high))
        watermark, complete, answerable = self._clock_of((reply[1], reply[2], reply[3]))
        if t < answerable:
            raise truncated(self.source.name, EPOCH + t * MICROSECOND, self._longest, complete)
        return self._decode(reply[0]), watermark

    def _columns(self, events: Fields, columns: Sequence[int], low: int) -> list[list[Any]]:
        """The values of ``columns`` (positions among the value columns) of ``events`` from position ``low`` on."""
        start = self._value_slice.start
        return [events[start + j][low:] for j in columns]

    def _decode(self, runs: list[list[bytes]]) -> Fields:
        """Decoded events field by field (values converted back from their JSON form), in (timestamp, id or
        arrival) order, from a script's runs of members (in score order), in one ``json.loads`` of all their
        fields (a flat list: no list per event), each field then one slice of it."""
        width = len(self.columns) + 2  # ts, id and the values; or ts, the values and the arrival number
        if not any(runs):
            return [[] for _ in range(width)]
        flat = json.loads(b"[" + b",".join(chain.from_iterable(runs)) + b"]")
        events = [flat[k::width] for k in range(width)]
        ts = events[0]
        if len(ts) > 1 and not all(map(lt, ts, ts[1:])):  # equal timestamps: order by id (or arrival)
            tie = events[1] if self._with_ids else events[-1]  # beyond 2**53 µs a score may hold them out of order
            order = sorted(range(len(ts)), key=lambda p: (ts[p], tie[p]))
            events = [[field[p] for p in order] for field in events]
        start = self._value_slice.start
        for j, convert in self._decoders:
            events[start + j] = list(map(convert, events[start + j]))
        return events

    def _partial(self, merged: list[list[str]] | None, column: int, events: Fields, inside: Ranges,
                 candidates: Ranges) -> Partial | None:
        """The ``Partial`` of ``column`` over one window: merged tiles, the events at the positions ``inside``
        (non-empty ranges, ascending) and the first/last ``candidates``, with what the column's specs read; None
        if a value cannot be combined exactly. Events are in (timestamp, tie-break) order, so the first and last
        of any of them are the ones at the lowest and highest positions."""
        plan = self._plan
        part = plan.partial(merged, column)
        if part is None:
            return None
        field = events[self._value_slice.start + column]
        values: list[Any] = []
        for lo, hi in inside:
            values += field[lo:hi]
        ends: tuple[int, ...] = (inside[0][0], inside[-1][1] - 1) if inside else ()
        if None in values:  # only nulls are skipped
            positions = [p for lo, hi in inside for p in range(lo, hi) if field[p] is not None]
            values = [field[p] for p in positions]
            ends = (positions[0], positions[-1]) if positions else ()
        if values:
            part.count += len(values)
            sums, squares, lows, highs = plan.sums[column], plan.squares[column], plan.lows[column], plan.highs[column]
            if sums or squares or lows or highs:
                kind = plan.kinds[column]
                # A finite sum has no inf or NaN among its terms (one C pass); an infinite one may be an overflow.
                if kind == "f" and not math.isfinite(sum(values)) and not all(map(math.isfinite, values)):
                    return None
                if squares:
                    part.squares += [Fraction(v) ** 2 for v in values] if kind == "f" else \
                        [v * v for v in map(int, values)]
                if sums:
                    part.sums += values
                if lows:
                    low = min(values)
                    part.low = low if part.low is None else min(part.low, low)
                if highs:
                    high = max(values)
                    part.high = high if part.high is None else max(part.high, high)
        if plan.ordered[column]:
            ordered = [p for lo, hi in candidates for p in range(lo, hi) if field[p] is not None] + list(ends)
            if ordered:
                part.first = field[min(ordered)]
                part.last = field[max(ordered)]
        return part

    def _clock_of(self, texts: tuple[bytes, ...]) -> tuple[datetime | None, int, int]:
        """The watermark, ``complete_from`` and the earliest exact ``as_of`` (µs), from the texts of the
        watermark and the bounds (oldest accepted, newest dropped); the same rule as ``MemoryWindowState``."""
        cache = self._clock_cache
        if texts != cache[0]:
            raw, oldest, dropped = texts
            instant = EPOCH + int(raw) * MICROSECOND if raw else None
            complete = NEVER
            if raw:
                complete = complete_from(int(raw), self._retention, int(oldest) if oldest else NO_EVENT,
                                         int(dropped) if dropped else NEVER)
            cache = self._clock_cache = (texts, instant, complete, answerable_from(complete, self._longest))
        return cache[1], cache[2], cache[3]
