"""Online window aggregations over one key's ``ColumnIndex``: one small closure per spec, built once per state.

Each aggregator takes ``(index, a, z)``: the column's derived arrays and the rank range ``[a, z)`` of the
non-null values in the window. Ints are exact (Python ints). Float sums come from double-double prefix sums
(each prefix plus the exact rounding error of its running sum) only when an error bound proves them within an
ulp of the exact window value (windows up to ``_SHORT`` values) or within ``_TOLERANCE`` (relative; longer
windows); otherwise (huge old values next to tiny recent ones, cancelling values, infinities) they are
recomputed from the window's values with ``math.fsum``: exactness beats speed, and the recomputation only
touches the window's own values. A window of one value is that value.

The registry binds one ``OnlineFactory`` to each aggregation; the factories here are its implementations.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from fractions import Fraction
from typing import Any

from fdag._aggregations.column_index import ColumnIndex
from fdag._aggregations.range_extreme import RangeExtreme
from fdag._values.types import FType, coerce_value

Aggregator = Callable[[ColumnIndex, int, int], Any]
Factory = Callable[[Any], Aggregator]  # the empty-window value -> the aggregator
# (empty-window value, whether the values are ints or bools, the aggregation's n) -> the aggregator of one spec
OnlineFactory = Callable[[Any, bool, "int | None"], Aggregator]

_UNIT = 2.0**-53  # unit roundoff of float64
_UNIT_SQUARED = 2.0 * _UNIT * _UNIT  # doubled: see _float_total
_EIGHTH_ULP = 2.0**-56  # |x| * this is at most an eighth of x's ulp (for normal x)
# Accepted relative error of a prefix-sum result: far inside the promised 1e-6 (and the 1e-9 that
# ``fdag.check`` asks of the engines), so online and offline agree wherever the offline result is exact.
_TOLERANCE = 1e-10
# A window of up to this many values is within an ulp of its exact sum (``math.fsum`` when the prefix sums cannot
# prove it), as a reader checking it by hand expects; a longer one within ``_TOLERANCE``, without an O(n) pass.
_SHORT = 1_000


def plain(factory: Factory) -> OnlineFactory:
    """The online factory of an aggregation that needs neither its values' exactness nor an ``n``."""
    return lambda empty, exact, n: factory(empty)


def by_exactness(exact: Factory, inexact: Factory) -> OnlineFactory:
    """The online factory using ``exact`` over int or bool values and ``inexact`` over floats."""
    return lambda empty, is_exact, n: (exact if is_exact else inexact)(empty)


def typed_empty(value: Any, returns: FType) -> Any:
    """The empty-window value in the node's type (a float sum's empty ``0`` is ``0.0``, as in a Float64 column)."""
    try:
        return coerce_value(value, returns)
    except (TypeError, OverflowError):
        return value


def count(empty: Any) -> Aggregator:
    """Number of non-null values."""

    def count(index: ColumnIndex, a: int, z: int) -> Any:
        return z - a if z > a else empty

    return count


def distinct_count(empty: Any) -> Aggregator:
    """Number of distinct non-null values (exact), from the index's distinct links when it keeps them."""

    def distinct(index: ColumnIndex, a: int, z: int) -> Any:
        if z == a:
            return empty
        links = index.distinct
        return len(set(index.values[a:z])) if links is None else links.count(index.values, a, z)

    return distinct


def last_n(empty: Any, exact: bool, n: int | None) -> Aggregator:
    """The newest ``n`` values, newest last."""
    size = n or 0

    def newest(index: ColumnIndex, a: int, z: int) -> Any:
        if z > a:
            return index.values[max(a, z - size) : z]
        return list(empty) if isinstance(empty, list) else empty  # a fresh list: callers may mutate results

    return newest


def first(empty: Any) -> Aggregator:
    """The oldest value by (timestamp, id)."""

    def first(index: ColumnIndex, a: int, z: int) -> Any:
        return index.values[a] if z > a else empty

    return first


def last(empty: Any) -> Aggregator:
    """The newest value by (timestamp, id)."""

    def last(index: ColumnIndex, a: int, z: int) -> Any:
        return index.values[z - 1] if z > a else empty

    return last


def extreme(
    stack_of: Callable[[ColumnIndex], list[int]], ranges_of: Callable[[ColumnIndex], RangeExtreme]
) -> Factory:
    """Min or max: the monotonic stack gives the extreme of ``[a, n)``, the window's own when it lies inside the
    window (always when the window reaches the newest value; usually when only a few newer values follow it,
    as for a late event or an ``as_of`` moved back a little), else the block sparse table."""

    def factory(empty: Any) -> Aggregator:
        def extreme(index: ColumnIndex, a: int, z: int) -> Any:
            if z == a:
                return empty
            stack = stack_of(index)
            at = stack[bisect_left(stack, a)]  # where the extreme of ranks [a, n) is: O(log n)
            if at < z:  # inside [a, z), which lies inside [a, n): the window's extreme too
                return index.values[at]
            return ranges_of(index).query(index.values, a, z)  # O(1) after a lazy build

        return extreme

    return factory


def sum_exact(empty: Any) -> Aggregator:
    """Exact sum of int or bool values."""

    def sum_exact(index: ColumnIndex, a: int, z: int) -> Any:
        if z == a:
            return empty
        sums = index.sums
        return sums[z] - sums[a]

    return sum_exact


def sum_float(empty: Any) -> Aggregator:
    """Sum of float values, within ``_TOLERANCE`` of the exact sum."""

    def sum_float(index: ColumnIndex, a: int, z: int) -> Any:
        return _float_total(index, a, z) if z > a else empty

    return sum_float


def _float_total(index: ColumnIndex, a: int, z: int) -> float:
    """The sum of ranks ``[a, z)`` from the double-double prefix sums when provably within an ulp (or, for a
    window longer than ``_SHORT``, within ``_TOLERANCE``), else ``math.fsum`` of the window's values."""
    if z - a == 1:
        return index.values[a]  # exactly the value, whatever the prefixes hold
    sums, lows, bounds = index.sums, index.lows, index.bounds
    high, low = sums[z], sums[a]
    total = high - low
    taken = total - high  # Knuth's TwoSum: high - low == total + gap exactly
    gap = (high - (total - taken)) + (-low - taken)
    tail = lows[z] - lows[a]
    correction = gap + tail
    result = total + correction
    # |result - exact| <= half an ulp (the last addition) + u * (|tail| + |correction|) (the two before) + the
    # errors of lows[z] and lows[a]: a running sum of step errors (each <= u * |prefix|) rounds by at most
    # u * |partial| <= u * u * bounds[i] per step, so lows[i] is off by at most u * u * i * bounds[i] (doubled
    # for safety). Within an eighth of an ulp (|result| * 2**-56 is less) the result is the correctly rounded sum
    # or its neighbour.
    error = _UNIT * (abs(tail) + abs(correction)) + _UNIT_SQUARED * (z * bounds[z] + a * bounds[a])
    size = abs(result)
    if error <= size * _EIGHTH_ULP or (z - a > _SHORT and error <= _TOLERANCE * size):
        return result  # (inf and NaN fail both tests)
    return exact_sum(index.values[a:z])


def exact_sum(values: list[float]) -> float:
    """The correctly rounded sum (``math.fsum``), also where partial sums overflow or infinities cancel."""
    try:
        return math.fsum(values)
    except ValueError:  # inf + -inf
        return math.nan
    except OverflowError:  # finite values whose running sum leaves the float range: sum them as rationals
        exact = sum(map(Fraction, values))
        try:
            return float(exact)
        except OverflowError:
            return math.inf if exact > 0 else -math.inf


def mean_exact(empty: Any) -> Aggregator:
    """Mean of int or bool values: an exact sum divided once."""

    def mean_exact(index: ColumnIndex, a: int, z: int) -> Any:
        if z == a:
            return empty
        sums = index.sums
        return (sums[z] - sums[a]) / (z - a)  # int / int is correctly rounded

    return mean_exact


def mean_float(empty: Any) -> Aggregator:
    """Mean of float values, from the accurate sum."""

    def mean_float(index: ColumnIndex, a: int, z: int) -> Any:
        return _float_total(index, a, z) / (z - a) if z > a else empty

    return mean_float


def var_exact(index: ColumnIndex, a: int, z: int) -> float | None:
    """Sample variance of ranks ``[a, z)`` of int values: exact integers, one correctly rounded division."""
    n = z - a
    if n < 2:
        return None
    total = index.sums[z] - index.sums[a]
    squares = index.squares[z] - index.squares[a]
    return (n * squares - total * total) / (n * (n - 1))


def var_float(index: ColumnIndex, a: int, z: int) -> float | None:
    """Sample variance of ranks ``[a, z)``: from prefix sums when the error bound allows, else two-pass."""
    n = z - a
    if n < 2:
        return None
    total = index.sums[z] - index.sums[a]
    squares = index.squares[z] - index.squares[a]
    centred = squares - total * total / n
    size = abs(total)
    error = _UNIT * (
        index.square_bounds[z] - index.square_bounds[a] + squares
        + 2.0 * size * (index.bounds[z] - index.bounds[a] + size) / n
        + 2.0 * (squares + total * total / n)
    )
    if centred > 0.0 and error <= _TOLERANCE * centred:
        return centred / (n - 1)
    return _two_pass_var(index.values[a:z])


def _two_pass_var(values: list[float]) -> float:
    """Sample variance by the two-pass algorithm around a correctly rounded mean: stable under cancellation."""
    n = len(values)
    mean = exact_sum(values) / n
    return exact_sum([(v - mean) * (v - mean) for v in values]) / (n - 1)


def spread(variance: Callable[[ColumnIndex, int, int], float | None], root: bool) -> Factory:
    """Sample variance, or standard deviation when ``root``; null below two values."""

    def factory(empty: Any) -> Aggregator:
        def spread(index: ColumnIndex, a: int, z: int) -> Any:
            if z == a:
                return empty
            value = variance(index, a, z)
            return math.sqrt(value) if root and value is not None else value

        return spread

    return factory
