"""Distinct values of any rank range of one key's values: last occurrences and previous-occurrence links.

``lasts`` holds, sorted, the rank of the newest occurrence of every distinct value, so the distinct values of
``[a, n)`` (a window reaching the newest value, the usual online query) are the entries ``>= a``: one bisect.
``prev[i]`` is the rank of the previous occurrence of ``values[i]`` (-1 if none). A value occurs in ``[a, n)``
but not in ``[a, z)`` exactly when its first occurrence in ``[a, n)`` is at a rank ``i >= z``, i.e. with
``prev[i] < a``; so a window ending earlier (``as_of`` moved back) is the count over ``[a, n)`` minus that of
``[z, n)`` — C-level passes over the values newer than the window — or a set of the window's values when that
is shorter: O(log n + min(window, values after it)).

Maintained from the first changed rank, like the other derived arrays: an in-order append is a dict lookup and
one bisect; a late value first undoes the values from its rank on (newest first), then redoes them.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from itertools import repeat
from operator import add
from typing import Any


class DistinctIndex:
    """Last occurrences and previous-occurrence links of a values list it does not own."""

    __slots__ = ("last", "lasts", "prev")

    def __init__(self) -> None:
        self.last: dict[Any, int] = {}  # value -> rank of its newest occurrence
        self.lasts: list[int] = []  # the values of ``last``, sorted
        self.prev: list[int] = []

    def refresh(self, replaced: list[Any], values: list[Any], rank: int) -> None:
        """Bring the index up to ``values``, whose ranks from ``rank`` on replaced the values ``replaced``."""
        if rank < len(self.prev):
            self.undo(replaced, rank)
        last, lasts, prev = self.last, self.lasts, self.prev
        get, append = last.get, prev.append
        for i in range(rank, len(values)):
            value = values[i]
            before = get(value, -1)
            append(before)
            if before >= 0:
                del lasts[bisect_left(lasts, before)]
            lasts.append(i)
            last[value] = i

    def push(self, value: Any, rank: int) -> None:
        """Index ``value``, appended at rank ``rank`` after every value the index holds (``refresh`` of it alone)."""
        before = self.last.get(value, -1)
        self.prev.append(before)
        lasts = self.lasts
        if before >= 0:
            del lasts[bisect_left(lasts, before)]
        lasts.append(rank)
        self.last[value] = rank

    def insert(self, values: list[Any], rank: int) -> None:
        """Index ``values[rank]``, inserted at ``rank`` among the values the index holds (which from there on move up
        a rank): ``refresh`` of every value from ``rank`` on, with C-level passes for the moved ranks."""
        value, prev, lasts, last = values[rank], self.prev, self.lasts, self.last
        tail = prev[rank:]
        links = list(map(add, tail, map(rank.__le__, tail)))  # a link to a moved rank moves with it
        cut = bisect_left(lasts, rank)
        moved = list(map(add, lasts[cut:], repeat(1)))
        lasts[cut:] = moved
        last.update(zip(map(values.__getitem__, moved), moved, strict=True))
        try:
            after = values.index(value, rank + 1)  # its next occurrence now links to it
        except ValueError:
            after = -1
        if after >= 0:
            before = links[after - rank - 1]  # (an occurrence below ``rank``: not moved)
            links[after - rank - 1] = rank
        else:  # the newest occurrence
            before = last.get(value, -1)
            if before >= 0:
                del lasts[bisect_left(lasts, before)]
            insort(lasts, rank)
            last[value] = rank
        prev[rank:] = [before, *links]

    def undo(self, replaced: list[Any], rank: int) -> None:
        """Forget the values from ``rank`` on (``replaced``, the values the index holds from there), newest first:
        the index is then that of the values before ``rank``."""
        last, lasts, prev = self.last, self.lasts, self.prev
        del lasts[bisect_left(lasts, rank):]
        touched = []
        for i in range(len(prev) - 1, rank - 1, -1):  # newest first: last[replaced value] is i here
            value, before = replaced[i - rank], prev[i]
            if before < 0:
                del last[value]
            else:
                last[value] = before
                touched.append(value)
        for value in dict.fromkeys(touched):
            position = last.get(value, -1)
            if 0 <= position < rank:
                insort(lasts, position)
        del prev[rank:]

    def count(self, values: list[Any], a: int, z: int) -> int:
        """How many distinct values ``values[a:z]`` holds (``a < z``)."""
        n = len(values)
        distinct = len(self.lasts) - bisect_left(self.lasts, a)
        if z == n:
            return distinct
        if z - a <= n - z:
            return len(set(values[a:z]))
        return distinct - sum(map(a.__gt__, self.prev[z:]))
