"""The query plan of window specs, shared by every store: one plan, so all stores give identical values.

Distinct window starts, then distinct (stored column, start, end) rank ranges, then one aggregator closure (bound
by the aggregation registry) per spec reading one range. ``evaluate`` runs it over a key's ``ColumnIndex`` arrays
(held by the memory state, or rebuilt by ``values`` from events fetched out of Redis). Value columns a state
stores as one (``stored_as``: the same function) share one column of arrays, built for all their specs.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fdag._aggregations.column_index import ColumnIndex, ColumnPlan
from fdag._aggregations.online import Aggregator
from fdag._aggregations.registry import needs_of
from fdag._dag.specs import WindowSpec
from fdag._values.instants import MICROSECOND

Evaluate = Callable[[Sequence[int], Sequence[ColumnIndex], int], list[Any]]


class WindowQuery:
    """The query plan of fixed specs over one source: window starts, rank ranges and one aggregator per spec."""

    def __init__(self, specs: Sequence[WindowSpec], stored_as: Mapping[str, str] | None = None) -> None:
        stored = stored_as if stored_as is not None else {spec.value_column: spec.value_column for spec in specs}
        self.columns = tuple(dict.fromkeys(stored[spec.value_column] for spec in specs))
        self.plans = tuple(_column_plan(column, specs, stored) for column in self.columns)
        overs = list(dict.fromkeys(spec.over // MICROSECOND for spec in specs))
        ranges = list(dict.fromkeys(_range_of(spec, self.columns, overs, stored) for spec in specs))
        self.overs = tuple(overs)
        self.longest = max(overs, default=0)
        self.ranges = tuple(ranges)
        self.closed_both = any(spec.closed == "both" for spec in specs)
        self.aggregators = tuple(
            (spec.agg.aggregator(spec.empty_value, spec.returns,
                                 self.plans[self.columns.index(stored[spec.value_column])].exact),
             ranges.index(_range_of(spec, self.columns, overs, stored)))
            for spec in specs
        )
        # evaluate(ts, indexes, t): every spec's value at ``t`` (µs) from a key's timestamps and its per-column
        # derived arrays
        self.evaluate: Evaluate = _compile_evaluate(self.overs, self.ranges, self.closed_both, self.aggregators)
        self._empty = tuple(aggregate(_EMPTY_INDEX, 0, 0) for aggregate, _ in self.aggregators)
        self._fresh_empty = any(isinstance(value, list) for value in self._empty)

    def empty(self) -> list[Any]:
        """The values of a key with no events (a fresh list for each ``last_n``)."""
        if self._fresh_empty:
            return [list(v) if isinstance(v, list) else v for v in self._empty]
        return list(self._empty)

    def values(self, ts: Sequence[int], raw: Sequence[list[Any]], t: int) -> list[Any]:
        """Every spec's value at ``t`` (µs) over events sorted by (timestamp, id): ``ts`` and per-column ``raw``."""
        if not ts:
            return self.empty()
        indexes = []
        for plan, column in zip(self.plans, raw, strict=True):
            index = ColumnIndex(plan.one_shot())
            index.refresh(column, 0)
            indexes.append(index)
        return self.evaluate(ts, indexes, t)


def _compile_evaluate(overs: Sequence[int], ranges: Sequence[tuple[int, int, bool]], closed_both: bool,
                      aggregators: Sequence[tuple[Aggregator, int]]) -> Evaluate:
    """``evaluate`` as straight-line code for one plan: a bisect per window start and end (none for an end past the
    newest event), two ``counts`` lookups per rank range, one call per aggregator (no loops, tuples or argument
    unpacking on the hot path)."""
    namespace: dict[str, Any] = {"bisect_left": bisect_left, "bisect_right": bisect_right}
    lines = ["def evaluate(ts, indexes, t):"]
    lines += [f"    s_{k} = bisect_left(ts, t - {int(over)})" for k, over in enumerate(overs)]
    # The window ends after the newest event (a query at the newest instant, streaming's query right after an
    # ingest): no search for the end.
    lines += ["    if ts and ts[-1] < t:", "        e = b = len(ts)", "    else:", "        e = bisect_left(ts, t)",
              f"        b = {'bisect_right(ts, t)' if closed_both else 'e'}"]
    for column in sorted({column for column, _, _ in ranges}):
        lines += [f"    i_{column} = indexes[{int(column)}]", f"    c_{column} = i_{column}.counts"]
    for r, (column, over, both) in enumerate(ranges):
        lines.append(f"    a_{r}, z_{r} = c_{column}[s_{over}], c_{column}[{'b' if both else 'e'}]")
    calls = []
    for j, (aggregate, r) in enumerate(aggregators):
        namespace[f"aggregate_{j}"] = aggregate
        calls.append(f"aggregate_{j}(i_{ranges[r][0]}, a_{r}, z_{r})")
    lines.append(f"    return [{', '.join(calls)}]")
    exec(compile("\n".join(lines) + "\n", "<fdag window query>", "exec"), namespace)
    evaluate: Evaluate = namespace["evaluate"]
    return evaluate


def _range_of(spec: WindowSpec, columns: Sequence[str], overs: list[int], stored: Mapping[str, str]
              ) -> tuple[int, int, bool]:
    """(stored column position, window start position, closed both) of ``spec``: what its rank range depends on."""
    return columns.index(stored[spec.value_column]), overs.index(spec.over // MICROSECOND), spec.closed == "both"


def _column_plan(column: str, specs: Sequence[WindowSpec], stored: Mapping[str, str]) -> ColumnPlan:
    """The derived arrays the specs over stored column ``column`` need (the union over the value columns it holds:
    each array is built the same whichever others are built beside it)."""
    over_column = [spec for spec in specs if stored[spec.value_column] == column]
    exact = over_column[0].value_type.base in (int, bool)
    return ColumnPlan.of(needs_of(spec.agg for spec in over_column), exact)


_EMPTY_INDEX = ColumnIndex(ColumnPlan(sums=False, squares=False, exact=True, mins=False, maxs=False))
