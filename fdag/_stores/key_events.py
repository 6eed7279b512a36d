"""One key's events in online window state: sorted parallel arrays plus lazily rebuilt per-column indexes.

Events are held in (timestamp, id) order (arrival order among equal timestamps when the source has no id).
Each value column keeps its per-event values (``None`` = skipped) and, derived from them on the first query
after a change, the ranks of non-null values, prefix sums and monotonic stacks that make a window query a
handful of list lookups. Derived arrays are rebuilt from the first changed position with C-level
``itertools.accumulate``, so appends cost nothing until a query needs them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import Any

from fdag._aggregations.column_index import ColumnIndex, ColumnPlan


class KeyEvents:
    """The held events of one key: timestamps (µs), ids and per-column values, in (timestamp, id) order.

    Without ``plans`` (lookup state, which reads single rows) it keeps no derived arrays: pass ``raw``.
    """

    __slots__ = ("ids", "index", "raw", "stale", "ts")

    def __init__(
        self, plans: tuple[ColumnPlan, ...], with_ids: bool, ts: list[int] | None = None,
        ids: list[Any] | None = None, raw: list[list[Any]] | None = None,
    ) -> None:
        self.ts: list[int] = ts if ts is not None else []
        self.ids: list[Any] | None = (ids if ids is not None else []) if with_ids else None
        self.raw: list[list[Any]] = raw if raw is not None else [[] for _ in plans]
        self.index = [ColumnIndex(plan) for plan in plans]
        self.stale: int | None = 0  # first event whose derived arrays are out of date; None = all fresh

    def place(self, ts: int, event_id: Any, values: list[Any]) -> None:
        """Insert one event at its (timestamp, id) position; an in-order event is a plain append."""
        times, ids = self.ts, self.ids
        n = len(times)
        if not n or ts > times[-1] or (ts == times[-1] and (ids is None or event_id > ids[-1])):
            times.append(ts)
            if ids is not None:
                ids.append(event_id)
            for column, value in zip(self.raw, values, strict=True):
                column.append(value)
            position = n
        else:
            position = bisect_right(times, ts)
            if ids is not None:
                first_tie = bisect_left(times, ts, 0, position)
                while position > first_tie and ids[position - 1] > event_id:
                    position -= 1
                ids.insert(position, event_id)
            times.insert(position, ts)
            for column, value in zip(self.raw, values, strict=True):
                column.insert(position, value)
        if self.stale is None or position < self.stale:
            self.stale = position

    def refresh(self) -> None:
        """Bring every column's derived arrays up to date (called by a query, under the state's lock)."""
        start = self.stale
        if start is not None:
            for column, index in zip(self.raw, self.index, strict=True):
                index.refresh(column, start)
            self.stale = None

    def evict_before(self, horizon: int) -> list[Any]:
        """Drop events with timestamp < ``horizon``; return the dropped ids (to forget them for dedup).

        Derived arrays are rebuilt from scratch afterwards, which also re-bases the float prefix sums at 0.
        """
        cut = bisect_left(self.ts, horizon)
        if not cut:
            return []
        dropped: list[Any] = []
        del self.ts[:cut]
        if self.ids is not None:
            dropped = self.ids[:cut]
            del self.ids[:cut]
        for column in self.raw:
            del column[:cut]
        for index in self.index:
            index.reset()
        self.stale = 0
        return dropped
