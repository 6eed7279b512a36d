"""The online range structures (block sparse table, distinct links, the min/max aggregators) against brute force
over the same values, through the ``ColumnIndex`` that maintains them: appends, late inserts at any rank, nulls,
any range; and the room ``reserve`` leaves in bulk-built lists."""

from __future__ import annotations

import sys
from operator import attrgetter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from fdag._aggregations import online
from fdag._aggregations.column_index import PUSH_AT_MOST, ColumnIndex, ColumnPlan
from fdag._aggregations.distinct_index import DistinctIndex
from fdag._aggregations.list_room import reserve
from fdag._aggregations.range_extreme import BLOCK, RangeExtreme
from fdag._stores.key_events import KeyEvents

PLAN = ColumnPlan(sums=False, squares=False, exact=True, mins=True, maxs=True, distinct=True)
small = st.none() | st.integers(0, 12) | st.integers(13, 10_000)  # repeats common, extremes vary
# (where to insert, as a fraction of the length; the value) — mostly appends, some late inserts
steps = st.lists(st.tuples(st.sampled_from([1.0, 1.0, 1.0, 0.97, 0.5, 0.0]), small), min_size=70, max_size=400)


def _check(index: ColumnIndex, ranges: list[tuple[float, float]]) -> None:
    values = index.values
    n = len(values)
    assert index.distinct is not None
    for fa, fz in [*ranges, (0.0, 1.0)]:
        a, z = sorted((int(fa * n), int(fz * n)))
        if a == z:
            continue
        window = values[a:z]
        assert index.range_min.query(values, a, z) == min(window), (a, z)
        assert index.range_max.query(values, a, z) == max(window), (a, z)
        assert index.distinct.count(values, a, z) == len(set(window)), (a, z)


@settings(max_examples=150, deadline=None)
@given(steps, st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), max_size=8), st.integers(1, 40))
def test_range_queries_match_brute_force_through_inserts(
    steps: list[tuple[float, Any]], ranges: list[tuple[float, float]], query_every: int
) -> None:
    raw: list[Any] = []
    index = ColumnIndex(PLAN)
    stale: int | None = 0
    for i, (where, value) in enumerate(steps):
        position = int(where * len(raw))
        raw.insert(position, value)
        stale = position if stale is None else min(stale, position)
        if i % query_every == 0 or i == len(steps) - 1:
            index.refresh(raw, stale)
            stale = None
            assert index.values == [v for v in raw if v is not None]
            _check(index, ranges)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 3) | st.text("ab", max_size=2), min_size=1, max_size=10 * BLOCK),
       st.data())
def test_sparse_table_lazily_built_then_truncated(values: list[Any], data: st.DataObject) -> None:
    """Strings and ints, ranges covering many blocks; truncation forgets exactly the entries that changed."""
    values = [str(v) for v in values]
    extremes = [RangeExtreme(min), RangeExtreme(max)]
    for _ in range(3):
        n = len(values)
        a = data.draw(st.integers(0, n - 1))
        z = data.draw(st.integers(a + 1, n))
        for extreme in extremes:
            assert extreme.query(values, a, z) == extreme.reduce(values[a:z])
        rank = data.draw(st.integers(0, n))
        values[rank:] = data.draw(st.lists(st.text("abc", max_size=2), min_size=n - rank + 1, max_size=n - rank + 1))
        for extreme in extremes:
            extreme.truncate(rank)


def test_distinct_links_hand_computed() -> None:
    """a b a c b: distinct of [1, 4) = {b, a, c} = 3, of [0, 2) = 2, of [3, 5) = 2; then a late 'd' at rank 1."""
    values = ["a", "b", "a", "c", "b"]
    links = DistinctIndex()
    links.refresh([], values, 0)
    assert links.prev == [-1, -1, 0, -1, 1]
    assert links.lasts == [2, 3, 4]
    assert [links.count(values, 1, 4), links.count(values, 0, 2), links.count(values, 3, 5)] == [3, 2, 2]
    replaced = values[1:]
    values.insert(1, "d")
    links.refresh(replaced, values, 1)
    assert links.prev == [-1, -1, -1, 0, -1, 2]
    assert links.lasts == [1, 3, 4, 5]
    assert links.count(values, 0, 6) == 4 and links.count(values, 2, 4) == 2


ALL_FLOAT = ColumnPlan(sums=True, squares=True, exact=False, mins=True, maxs=True, distinct=True)
ARRAYS = ("counts", "values", "sums", "lows", "bounds", "squares", "square_bounds", "mins", "maxs")


@settings(max_examples=80, deadline=None)
@given(st.lists(st.none() | st.floats(-1e12, 1e12, allow_nan=False) | st.sampled_from([0.1, 1e-300, 3.0]),
                min_size=1, max_size=60), st.integers(1, 12))
def test_pushing_appended_events_equals_rebuilding(values: list[float | None], every: int) -> None:
    """Streaming refreshes (a few appended events pushed one by one) build exactly the arrays of one rebuild,
    float error terms included: the error bounds of the online sums rely on them."""
    raw: list[float | None] = []
    pushed = ColumnIndex(ALL_FLOAT)
    stale = 0
    for i, value in enumerate(values):
        raw.append(value)
        if i % every == 0 or i == len(values) - 1:
            pushed.refresh(raw, stale)
            stale = len(raw)
    rebuilt = ColumnIndex(ALL_FLOAT)
    rebuilt.refresh(raw, 0)
    for name in ARRAYS:
        assert getattr(pushed, name) == getattr(rebuilt, name), name
    assert pushed.distinct is not None and rebuilt.distinct is not None
    assert (pushed.distinct.prev, pushed.distinct.lasts) == (rebuilt.distinct.prev, rebuilt.distinct.lasts)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-50, 50), min_size=2 * BLOCK, max_size=8 * BLOCK), st.lists(st.integers(-60, 60),
       min_size=1, max_size=3 * BLOCK), st.data())
def test_pushed_values_leave_built_range_tables_exact(built: list[int], pushed: list[int], data: st.DataObject
                                                      ) -> None:
    """A push does not truncate the range tables (they cover only whole blocks of the values before it): queries
    over any range, after tables were built and values appended one by one, still match brute force."""
    raw: list[Any] = list(built)
    index = ColumnIndex(PLAN)
    index.refresh(raw, 0)
    for value in pushed:
        n = len(index.values)
        for _ in range(3):
            a = data.draw(st.integers(0, n - 1))
            z = data.draw(st.integers(a + 1, n))
            assert index.range_min.query(index.values, a, z) == min(index.values[a:z])
            assert index.range_max.query(index.values, a, z) == max(index.values[a:z])
        raw.append(value)
        index.refresh(raw, len(raw) - 1)
    _check(index, [(0.0, 0.5), (0.3, 1.0), (0.9, 1.0)])


@settings(max_examples=80, deadline=None)
@given(st.lists(st.none() | st.floats(-1e12, 1e12, allow_nan=False) | st.sampled_from([0.1, 1e-300, 3.0]),
                min_size=1, max_size=40),
       st.lists(st.tuples(st.integers(0, 10), st.none() | st.sampled_from([0.1, -2.0, 3.0, 1e12, 3.0])),
                min_size=1, max_size=40), st.integers(1, 4))
def test_late_inserts_among_the_newest_pushed_equal_rebuilding(
    built: list[float | None], steps: list[tuple[int, float | None]], every: int
) -> None:
    """A late event a few places before the newest (the streaming case) cuts the arrays back to it and pushes the
    events from there one by one: exactly the arrays, float error terms, stacks and distinct links of a rebuild,
    and range tables that still answer every range as brute force does."""
    raw: list[float | None] = list(built)
    index = ColumnIndex(ALL_FLOAT)
    index.refresh(raw, 0)
    if index.values:  # built tables, then truncated by the inserts
        index.range_min.query(index.values, 0, len(index.values))
        index.range_max.query(index.values, 0, len(index.values))
    stale: int | None = None
    for i, (behind, value) in enumerate(steps):
        position = max(0, len(raw) - behind)
        raw.insert(position, value)
        stale = position if stale is None else min(stale, position)
        if i % every == 0 or i == len(steps) - 1:
            index.refresh(raw, stale)
            stale = None
    rebuilt = ColumnIndex(ALL_FLOAT)
    rebuilt.refresh(raw, 0)
    for name in ARRAYS:
        assert getattr(index, name) == getattr(rebuilt, name), name
    assert index.distinct is not None and rebuilt.distinct is not None
    assert (index.distinct.prev, index.distinct.lasts, index.distinct.last) == (
        rebuilt.distinct.prev, rebuilt.distinct.lasts, rebuilt.distinct.last)
    values = index.values
    for a in range(len(values)):
        for z in range(a + 1, len(values) + 1):
            assert index.range_min.query(values, a, z) == min(values[a:z]), (a, z)
            assert index.range_max.query(values, a, z) == max(values[a:z]), (a, z)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(-4, 4) | st.none(), min_size=1, max_size=3 * BLOCK), st.booleans())
def test_min_max_of_every_range_match_brute_force(raw: list[int | None], tables_built: bool) -> None:
    """The min and max aggregators over every rank range ``[a, z)``, with many ties: from the monotonic stack
    when the extreme of ``[a, n)`` lies inside the range (which ends before the newest value or at it), else from
    the block tables (built beforehand or not)."""
    index = ColumnIndex(PLAN)
    index.refresh(raw, 0)
    values = index.values
    if tables_built and values:
        index.range_min.query(values, 0, len(values))
        index.range_max.query(values, 0, len(values))
    low = online.extreme(attrgetter("mins"), attrgetter("range_min"))(None)
    high = online.extreme(attrgetter("maxs"), attrgetter("range_max"))(None)
    for a in range(len(values) + 1):
        assert low(index, a, a) is None and high(index, a, a) is None
        for z in range(a + 1, len(values) + 1):
            assert (low(index, a, z), high(index, a, z)) == (min(values[a:z]), max(values[a:z])), (a, z)


@given(st.lists(st.integers(), max_size=200), st.integers(0, 400))
def test_reserved_room_keeps_contents_and_takes_the_appends(items: list[int], grown: int) -> None:
    """``reserve`` leaves a list's items as they were, and the appends of an eighth of ``grown`` then fit in the
    allocation it left (for a list at least as long as ``grown``: a shorter one gets no room)."""
    bulk = [0]
    bulk[1:] = items  # a slice assignment: allocated to fit, as the derived arrays are after a rebuild
    before = list(bulk)
    reserve([bulk], grown)
    assert bulk == before
    extra = grown >> 3
    if extra <= len(bulk) >> 3:
        size = sys.getsizeof(bulk)
        bulk.extend(range(extra))
        assert sys.getsizeof(bulk) == size


PLANS = (ALL_FLOAT, ColumnPlan(sums=True, squares=True, exact=True, mins=True, maxs=False),
         ColumnPlan(sums=False, squares=False, exact=False, mins=False, maxs=False, distinct=True),
         ColumnPlan(sums=True, squares=False, exact=False, mins=False, maxs=True))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 0, 0, 1, 3, 12, 30, 90]),
                          st.none() | st.floats(-1e12, 1e12, allow_nan=False) | st.sampled_from([0.1, 1e-300]),
                          st.none() | st.integers(-2**70, 2**70) | st.integers(-3, 3),
                          st.none() | st.sampled_from("abc"), st.none() | st.floats(-10, 10)),
                min_size=1, max_size=120),
       st.integers(1, 3))
def test_events_pushed_in_every_column_equal_rebuilding(
    steps: list[tuple[int, float | None, int | None, str | None, float | None]], every: int
) -> None:
    """A key refreshed after each event (streaming: an appended one pushed in every column at once by the compiled
    code, a late one a few places back cut back to and pushed from there, one far back inserted alone), or after a
    few, holds exactly the arrays of one rebuild in every column, whatever each column's plan builds; the range
    tables, built before the late events, still answer every range as brute force does."""
    pushed = KeyEvents(PLANS, False)
    for i, (behind, *row) in enumerate(steps):
        ts = 10 * (len(pushed.ts) - behind) + (5 if behind else 10)  # ``behind`` events newer than it are held
        pushed.place(ts, None, [[value] for value in row], 0)
        if i % every == 0:
            pushed.refresh()
            build_tables(pushed)
    pushed.refresh()
    assert_rebuilt_alike(pushed)
    check_ranges(pushed, 7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.none() | st.floats(-1e12, 1e12, allow_nan=False) | st.sampled_from([0.1, 1e-300]),
                          st.none() | st.integers(-2**70, 2**70) | st.integers(-3, 3),
                          st.none() | st.sampled_from("abc"), st.none() | st.floats(-10, 10)), min_size=4 * BLOCK,
                max_size=6 * BLOCK),
       st.lists(st.tuples(st.integers(PUSH_AT_MOST + 1, 4 * BLOCK), st.integers(0, 10**6)), min_size=1, max_size=12),
       st.booleans())
def test_one_late_event_far_back_is_indexed_alone_exactly(
    built: list[tuple[float | None, int | None, str | None, float | None]], late: list[tuple[int, int]],
    tables: bool
) -> None:
    """A key refreshed before each late event landing more than a few places back (a hot key's): the event is
    inserted alone in every column (its stacks and distinct links updated for it, the prefix sums rebuilt from
    it), and the arrays equal one rebuild's after each; the range tables and distinct counts answer as brute
    force does."""
    key = KeyEvents(PLANS, False)
    for row in built:
        key.place(10 * len(key.ts), None, [[value] for value in row], 0)
    inserts = 0
    for behind, pick in late:
        key.refresh()
        if tables:
            build_tables(key)
        at = max(0, len(key.ts) - behind)
        row = built[pick % len(built)]
        key.place(key.ts[at] - 1 if at < len(key.ts) else 10 * len(key.ts), None, [[value] for value in row], 0)
        inserts += key.inserted is not None and len(key.ts) - key.inserted > PUSH_AT_MOST
        key.refresh()
        assert_rebuilt_alike(key)
    assert inserts > 0
    check_ranges(key, 3)


def assert_rebuilt_alike(key: KeyEvents) -> None:
    """Every derived array and distinct link of every column of ``key`` equals those of one rebuild of its events."""
    rebuilt = KeyEvents(PLANS, False, list(key.ts), None, [list(column) for column in key.raw])
    rebuilt.refresh()
    for mine, theirs in zip(key.index, rebuilt.index, strict=True):
        for name in ARRAYS:
            assert getattr(mine, name) == getattr(theirs, name), name
        assert (mine.distinct is None) == (theirs.distinct is None)
        if mine.distinct is not None and theirs.distinct is not None:
            assert (mine.distinct.prev, mine.distinct.lasts, mine.distinct.last) == (
                theirs.distinct.prev, theirs.distinct.lasts, theirs.distinct.last)


def build_tables(key: KeyEvents) -> None:
    """Build the range tables of every column whose plan keeps them, over all its values (inserts then cut them)."""
    for index in key.index:
        if index.values and index.plan.mins:
            index.range_min.query(index.values, 0, len(index.values))
        if index.values and index.plan.maxs:
            index.range_max.query(index.values, 0, len(index.values))


def check_ranges(key: KeyEvents, step: int) -> None:
    """Every column's range tables (where its plan keeps them) and distinct counts against brute force, over
    the ranges starting every ``step`` ranks."""
    for index in key.index:
        values = index.values
        for a in range(0, len(values), step):
            for z in range(a + 1, len(values) + 1):
                window = values[a:z]
                assert not index.plan.mins or index.range_min.query(values, a, z) == min(window), (a, z)
                assert not index.plan.maxs or index.range_max.query(values, a, z) == max(window), (a, z)
                assert index.distinct is None or index.distinct.count(values, a, z) == len(set(window)), (a, z)


def test_a_far_back_insert_cuts_the_range_tables() -> None:
    """Rising values: every block's extreme is at its edge, so one value inserted far back moves the extreme of
    every block after it; tables built before the insert still answer every range exactly."""
    key = KeyEvents(PLANS, False)
    for i in range(6 * BLOCK):
        key.place(10 * i, None, [[float(i)], [i], ["abc"[i % 3]], [float(-i)]], 0)
    key.refresh()
    build_tables(key)
    key.place(10 * (2 * BLOCK) + 5, None, [[0.5], [-1], ["a"], [7.0]], 0)
    assert key.inserted == 2 * BLOCK + 1
    key.refresh()
    check_ranges(key, 1)
