"""One key's events in online window state: sorted parallel arrays plus lazily rebuilt per-column indexes.

Events are held in (timestamp, id) order (arrival order among equal timestamps when the source has no id).
Each value column keeps its per-event values (``None`` = skipped) and, derived from them on the first query
after a change, the ranks of non-null values, prefix sums, monotonic stacks and distinct links that make a
window query a handful of list lookups and bisects. Derived arrays are rebuilt from the first changed position,
so appends cost nothing until a query needs them, and a late event only what follows it.

Eviction does not touch the derived arrays: evicted events stay as a dead prefix (``dead`` of them) that no
answerable window reaches, and are dropped for real — the arrays rebuilt once — only when they are at least
as many as the live events, so eviction costs O(1) amortised per event instead of a rebuild per batch.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from fdag._aggregations.column_index import PUSH_AT_MOST, ColumnIndex, ColumnPlan, pusher


class KeyEvents:
    """The held events of one key: timestamps (µs), ids and per-column values, in (timestamp, id) order.

    Without ``plans`` (lookup state, which reads single rows) it keeps no derived arrays: pass ``raw``.
    """

    __slots__ = ("dead", "ids", "index", "inserted", "push", "raw", "stale", "ts")

    def __init__(
        self, plans: tuple[ColumnPlan, ...], with_ids: bool, ts: list[int] | None = None,
        ids: list[Any] | None = None, raw: list[list[Any]] | None = None,
    ) -> None:
        self.ts: list[int] = ts if ts is not None else []
        self.ids: list[Any] | None = (ids if ids is not None else []) if with_ids else None
        self.raw: list[list[Any]] = raw if raw is not None else [[] for _ in plans]
        self.index = [ColumnIndex(plan) for plan in plans]
        self.push = pusher(plans)  # index the newest event of every column at once (streaming's refresh)
        self.stale: int | None = 0  # first event whose derived arrays are out of date; None = all fresh
        self.inserted: int | None = None  # where the one event inserted since the last refresh is, if that is all
        self.dead = 0  # evicted events still held at the front (their ids already forgotten)

    @property
    def live(self) -> int:
        """How many events are held and not evicted."""
        return len(self.ts) - self.dead

    def expired(self, horizon: int) -> int:
        """How many live events are older than ``horizon``."""
        return bisect_left(self.ts, horizon, self.dead) - self.dead

    def place(self, ts: int, event_id: Any, columns: list[list[Any]], position: int) -> None:
        """Insert one event at its (timestamp, id) position, its values ``column[position]`` of each of ``columns``
        (a batch's value columns); an in-order event is a plain append."""
        times, ids = self.ts, self.ids
        n = len(times)
        if not n or ts > times[-1] or (ts == times[-1] and (ids is None or event_id > ids[-1])):
            times.append(ts)
            if ids is not None:
                ids.append(event_id)
            for column, values in zip(self.raw, columns, strict=True):
                column.append(values[position])
            at = n
            self.inserted = None
        else:
            at = bisect_right(times, ts)
            if ids is not None:
                first_tie = bisect_left(times, ts, 0, at)
                while at > first_tie and ids[at - 1] > event_id:
                    at -= 1
                ids.insert(at, event_id)
            times.insert(at, ts)
            for column, values in zip(self.raw, columns, strict=True):
                column.insert(at, values[position])
            self.inserted = at if self.stale is None else None
        if self.stale is None or at < self.stale:
            self.stale = at

    def append(self, ts: int, event_id: Any, row: list[Any]) -> None:
        """``place`` of one event whose values are ``row`` (one per column): streaming's usual in-order event is
        appended without building a column list per value."""
        times, ids = self.ts, self.ids
        if times and (ts < times[-1] or (ts == times[-1] and ids is not None and not event_id > ids[-1])):
            self.place(ts, event_id, [[value] for value in row], 0)  # late: inserted at its place
            return
        if self.stale is None:
            self.stale = len(times)
        else:
            self.inserted = None
        times.append(ts)
        if ids is not None:
            ids.append(event_id)
        for column, value in zip(self.raw, row, strict=True):
            column.append(value)

    def refresh(self) -> None:
        """Bring every column's derived arrays up to date (called by a query, under the state's lock)."""
        start = self.stale
        if start is None:
            return
        count = len(self.ts)
        if start == count - 1:  # one event appended since the last refresh (streaming: one per request)
            self.push(self.index, self.raw, -1)
        elif count - start <= PUSH_AT_MOST:  # a few (a late event among the newest): cut back, push every column
            indexes, raw, push = self.index, self.raw, self.push
            for index in indexes:
                index.cut(start)
            for at in range(start, count):
                push(indexes, raw, at)
        elif self.inserted == start:  # one late event far back (a hot key's): it alone is indexed
            for column, index in zip(self.raw, self.index, strict=True):
                index.insert(column, start)
        else:
            for column, index in zip(self.raw, self.index, strict=True):
                index.refresh(column, start)
        self.stale = self.inserted = None

    def evict_before(self, horizon: int) -> tuple[list[Any], list[int]]:
        """Evict the live events with timestamp < ``horizon``; return their ids and timestamps (to forget them for
        dedup; no ids when the source has none).

        They join the dead prefix; once it holds at least half the events it is dropped and the derived arrays
        are rebuilt from scratch, which also re-bases the float prefix sums at 0.
        """
        dead = self.dead
        cut = bisect_left(self.ts, horizon, dead)
        if cut == dead:
            return [], []
        dropped = (self.ids[dead:cut], self.ts[dead:cut]) if self.ids is not None else ([], [])
        self.dead = cut
        if 2 * cut >= len(self.ts):
            del self.ts[:cut]
            if self.ids is not None:
                del self.ids[:cut]
            for column in self.raw:
                del column[:cut]
            for index in self.index:
                index.reset()
            self.stale, self.inserted = 0, None
            self.dead = 0
        return dropped
