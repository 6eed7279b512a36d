"""Derived arrays of one value column of one key: ranks of non-null values, prefix sums, monotonic stacks, range
extremes and distinct-value links.

Rebuilt from the first changed position (with C-level ``itertools.accumulate`` where it applies), so that an
online window query is a handful of list lookups and bisects (the aggregators of ``online`` read them).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from enum import Flag, auto
from itertools import accumulate, compress, repeat
from operator import add, gt, is_not, lt, mul, sub
from typing import Any

from fdag._aggregations.distinct_index import DistinctIndex
from fdag._aggregations.list_room import reserve
from fdag._aggregations.range_extreme import RangeExtreme

# (indexes, columns, at) -> None: index event ``at`` of each column (``pusher``)
Pusher = Callable[[Sequence["ColumnIndex"], Sequence[list[Any]], int], None]
_PUSHERS: dict[tuple[ColumnPlan, ...], Pusher] = {}
PUSH_AT_MOST = 8  # events from the first changed one indexed one by one; more are rebuilt with C-level passes


class Derived(Flag):
    """The derived arrays an online aggregation reads besides the ranked values (each aggregation declares its own)."""

    NONE = 0
    SUMS = auto()  # prefix sums
    SQUARES = auto()  # prefix sums of squares (built alongside the prefix sums, whose error bounds they share)
    MINS = auto()  # monotonic stack of suffix minima
    MAXS = auto()  # monotonic stack of suffix maxima
    DISTINCT = auto()  # last occurrences and previous-occurrence links of the values


@dataclass(frozen=True)
class ColumnPlan:
    """Which derived arrays the specs over one value column need."""

    sums: bool  # prefix sums
    squares: bool  # prefix sums of squares (only with sums)
    exact: bool  # int/bool values: prefix sums are exact Python ints, no error bounds needed
    mins: bool
    maxs: bool
    distinct: bool = False

    def one_shot(self) -> ColumnPlan:
        """This plan for an index built for one query (the distinct links would cost more than they save)."""
        return replace(self, distinct=False)

    @classmethod
    def of(cls, needs: Derived, exact: bool) -> ColumnPlan:
        """The plan building the arrays in ``needs`` (the union over a column's aggregations)."""
        return cls(
            sums=bool(needs & (Derived.SUMS | Derived.SQUARES)),
            squares=Derived.SQUARES in needs,
            exact=exact,
            mins=Derived.MINS in needs,
            maxs=Derived.MAXS in needs,
            distinct=Derived.DISTINCT in needs,
        )


class ColumnIndex:
    """Derived arrays of one value column of one key, indexed by rank among the column's non-null values.

    ``counts[i]`` is the number of non-null values among the first ``i`` events, so events ``[lo, hi)`` hold
    the non-null values of ranks ``[counts[lo], counts[hi])``. ``sums``/``squares`` are prefix sums over
    ranks; for floats ``lows`` accumulate the exact rounding error of each step of ``sums`` (so ``sums[i] +
    lows[i]`` is a double-double prefix, good to about ``u**2`` instead of ``u``), and ``bounds``/``square_bounds``
    accumulate ``|prefix|``, which bounds the rounding error of any difference of prefixes (see ``online``).
    ``mins``/``maxs`` are monotonic stacks of ranks (the extreme of a window reaching the newest value), with
    ``range_min``/``range_max`` for any other window; ``distinct`` (or None: count a set of the window) links
    equal values.
    """

    __slots__ = ("bounds", "counts", "distinct", "lows", "maxs", "mins", "plan", "range_max", "range_min",
                 "square_bounds", "squares", "sums", "values")

    def __init__(self, plan: ColumnPlan) -> None:
        self.plan = plan
        self.reset()

    def reset(self) -> None:
        """Forget every derived array (the next ``refresh`` rebuilds from the first event)."""
        zero = 0 if self.plan.exact else 0.0
        self.counts: list[int] = [0]
        self.values: list[Any] = []
        self.sums: list[Any] = [zero]
        self.lows: list[float] = [0.0]
        self.bounds: list[float] = [0.0]
        self.squares: list[Any] = [zero]
        self.square_bounds: list[float] = [0.0]
        self.mins: list[int] = []
        self.maxs: list[int] = []
        self.range_min = RangeExtreme(min)
        self.range_max = RangeExtreme(max)
        self.distinct = DistinctIndex() if self.plan.distinct else None

    def refresh(self, raw: list[Any], start: int) -> None:
        """Rebuild every derived array from event ``start`` on (events before it are unchanged).

        When at most a few events are from ``start`` on (streaming: one appended per request, or a late one
        among the newest), the arrays are cut back to event ``start`` and those events pushed one by one — the
        same operations in the same order as the C-level rebuild, so the arrays are identical, at a fraction of
        its fixed cost.
        """
        if len(raw) - start <= PUSH_AT_MOST:
            self.cut(start)
            push, own, columns = pusher((self.plan,)), (self,), (raw,)
            for at in range(start, len(raw)):
                push(own, columns, at)
            return
        segment = raw[start:]
        flags = list(map(is_not, segment, repeat(None)))
        counts = self.counts
        counts[start:] = accumulate(flags, initial=counts[start])
        rank = counts[start]
        values = self.values
        replaced = values[rank:] if self.distinct is not None else []
        values[rank:] = compress(segment, flags)
        if self.distinct is not None:
            self.distinct.refresh(replaced, values, rank)
        built = [counts, values, *self._rebuild_sums(rank)]
        reserve(built, len(segment))
        plan = self.plan
        if plan.mins or plan.maxs:
            # Values were only inserted from ``rank`` on: entries before it that survived the old values after
            # them must still face those values (now shifted), so dropping the rest and re-pushing from
            # ``rank`` gives exactly the stack of the new values.
            if plan.mins:
                del self.mins[bisect_left(self.mins, rank):]
                _extend_min_stack(self.mins, values, rank)
                self.range_min.truncate(rank)
            if plan.maxs:
                del self.maxs[bisect_left(self.maxs, rank):]
                _extend_max_stack(self.maxs, values, rank)
                self.range_max.truncate(rank)

    def insert(self, raw: list[Any], at: int) -> None:
        """Index event ``at`` of ``raw``, inserted there after the events the arrays index (a late event far behind
        the newest): the arrays ``refresh(raw, at)`` builds, but only the counts and prefix sums are rebuilt from
        it (C-level passes); the stacks and distinct links take the one value in O(log n) steps (the events after
        it keep their entries, a rank up) instead of every value after it being pushed again."""
        value, counts = raw[at], self.counts
        rank = counts[at]
        if value is None:  # no value moves: the counts after it repeat
            counts.insert(at + 1, rank)
            return
        counts[at + 1 :] = map(add, counts[at:], repeat(1))
        values = self.values
        values.insert(rank, value)
        if self.distinct is not None:
            self.distinct.insert(values, rank)
        self._rebuild_sums(rank)
        if self.plan.mins:
            _insert_on_stack(self.mins, values, rank, lt)
            self.range_min.truncate(rank)
        if self.plan.maxs:
            _insert_on_stack(self.maxs, values, rank, gt)
            self.range_max.truncate(rank)

    def _rebuild_sums(self, rank: int) -> list[list[Any]]:
        """Rebuild the prefix sums (and their error terms and bounds) from rank ``rank`` on; the lists rebuilt."""
        plan, values, built = self.plan, self.values, []
        if plan.sums:
            fresh = values[rank:]
            self.sums[rank:] = accumulate(fresh, initial=self.sums[rank])
            built.append(self.sums)
            if not plan.exact:
                self.lows[rank:] = accumulate(_step_errors(self.sums, fresh, rank), initial=self.lows[rank])
                self.bounds[rank:] = accumulate(map(abs, self.sums[rank + 1 :]), initial=self.bounds[rank])
                built += (self.lows, self.bounds)
            if plan.squares:
                self.squares[rank:] = accumulate(map(mul, fresh, fresh), initial=self.squares[rank])
                built.append(self.squares)
                if not plan.exact:
                    self.square_bounds[rank:] = accumulate(self.squares[rank + 1 :], initial=self.square_bounds[rank])
                    built.append(self.square_bounds)
        return built

    def cut(self, start: int) -> None:
        """Cut every derived array back to the events before ``start``, if it indexes any from there on (events from
        there on changed by inserts only, as in ``refresh``: the stack entries before ``start``'s rank that survive
        are those of the rebuild); then pushing those events, one by one, brings the arrays up to date."""
        if start >= len(self.counts) - 1:
            return
        counts = self.counts
        rank = counts[start]
        del counts[start + 1 :]
        values = self.values
        if self.distinct is not None:
            self.distinct.undo(values[rank:], rank)
        del values[rank:]
        for prefix in (self.sums, self.lows, self.bounds, self.squares, self.square_bounds):
            del prefix[rank + 1 :]
        del self.mins[bisect_left(self.mins, rank) :]
        del self.maxs[bisect_left(self.maxs, rank) :]
        self.range_min.truncate(rank)
        self.range_max.truncate(rank)


def pusher(plans: tuple[ColumnPlan, ...]) -> Pusher:
    """``push(indexes, columns, at)``: index event ``at`` of each of ``columns`` (one key's value columns, aligned
    with ``plans``) in its ``ColumnIndex``, which indexes exactly the events before it — ``refresh`` of that event
    alone, for every column at once (``at=-1``: the newest event, streaming's append).

    Straight-line code compiled once per tuple of plans (streaming scoring pushes one event per request: no loop
    over columns, no test of what a plan builds); the same operations in the same order as ``refresh``'s C-level
    rebuild, so the arrays are identical.
    """
    found = _PUSHERS.get(plans)
    if found is None:
        lines = ["def push(indexes, columns, at):"]
        for j, plan in enumerate(plans):
            lines += [f"    index = indexes[{j}]", f"    value = columns[{j}][at]", *_push_lines(plan, "    ")]
        lines.append("    return")  # (no plans: a lookup state's keys, which derive nothing)
        namespace: dict[str, Any] = {}
        exec(compile("\n".join(lines) + "\n", "<fdag column push>", "exec"), namespace)
        found = _PUSHERS[plans] = namespace["push"]
    return found


def _push_lines(plan: ColumnPlan, pad: str) -> list[str]:
    """The statements indexing ``value`` as the newest value of ``index`` under ``plan`` (what ``pusher`` runs)."""
    body = ["counts.append(rank + 1)", "values = index.values", "values.append(value)"]
    if plan.distinct:
        body.append("index.distinct.push(value, rank)")
    if plan.sums:
        body += ["sums = index.sums", "before = sums[-1]", "after = before + value", "sums.append(after)"]
        if not plan.exact:
            body += ["step = after - before  # TwoSum, as in _step_errors", "lows = index.lows",
                     "lows.append(lows[-1] + ((before - (after - step)) + (value - step)))",
                     "bounds = index.bounds", "bounds.append(bounds[-1] + abs(after))"]
        if plan.squares:
            body += ["squares = index.squares", "square = squares[-1] + value * value", "squares.append(square)"]
            if not plan.exact:
                body += ["square_bounds = index.square_bounds", "square_bounds.append(square_bounds[-1] + square)"]
    # The range tables cover only whole blocks of the values before this one: an appended value invalidates none of
    # their entries (``RangeExtreme.truncate(rank)`` would delete nothing). The stacks are pushed as
    # ``_extend_min_stack`` / ``_extend_max_stack`` push rank ``rank``.
    for stack, keeps in (("mins", plan.mins and "<"), ("maxs", plan.maxs and ">")):
        if keeps:
            body += [f"stack = index.{stack}", f"while stack and not values[stack[-1]] {keeps} value:",
                     "    stack.pop()", "stack.append(rank)"]
    return [f"{pad}{line}" for line in
            ["counts = index.counts", "rank = counts[-1]", "if value is None:", "    counts.append(rank)", "else:",
             *(f"    {line}" for line in body)]]


def _step_errors(sums: list[float], added: list[float], rank: int) -> Iterator[float]:
    """The exact rounding error of each step ``sums[i + 1] = sums[i] + added[i]`` from ``rank`` on: Knuth's
    TwoSum, one C-level pass per operation (no Python loop)."""
    after, before = sums[rank + 1 :], sums[rank:-1]
    step = list(map(sub, after, before))  # what the rounded step really added
    return map(add, map(sub, before, map(sub, after, step)), map(sub, added, step))


def _extend_min_stack(stack: list[int], values: list[Any], start: int) -> None:
    """Push ranks ``start..`` keeping values strictly increasing: the suffix minimum from rank ``a`` is at the
    first stack entry ``>= a``."""
    for i in range(start, len(values)):
        value = values[i]
        while stack and not values[stack[-1]] < value:
            stack.pop()
        stack.append(i)


def _extend_max_stack(stack: list[int], values: list[Any], start: int) -> None:
    """Push ranks ``start..`` keeping values strictly decreasing (the suffix-maximum twin of the above)."""
    for i in range(start, len(values)):
        value = values[i]
        while stack and not values[stack[-1]] > value:
            stack.pop()
        stack.append(i)


def _insert_on_stack(stack: list[int], values: list[Any], rank: int, before: Callable[[Any, Any], bool]) -> None:
    """Update a monotonic stack (``before``: ``lt`` for the minima, ``gt`` for the maxima) for ``values[rank]``
    inserted at ``rank``: the entries from there on move up a rank; the new value is on the stack when it is before
    the extreme of the values after it (the first entry from there on); and an entry below it stays when its value
    is before the new one (a prefix of those entries: values along the stack are ordered by ``before``)."""
    first = bisect_left(stack, rank)
    moved = list(map(add, stack[first:], repeat(1)))
    value = values[rank]
    lo, hi = 0, first
    while lo < hi:
        mid = (lo + hi) // 2
        if before(values[stack[mid]], value):
            lo = mid + 1
        else:
            hi = mid
    del stack[lo:]
    if not moved or before(value, values[moved[0]]):
        stack.append(rank)
    stack.extend(moved)
