"""Window aggregations over one key's ``ColumnIndex``: one small function per spec, built once per state.

Each aggregator takes ``(index, a, z)``: the column's derived arrays and the rank range ``[a, z)`` of the
non-null values in the window. Ints are exact (Python ints). Float sums come from prefix sums only when a
running error bound proves them within ``_TOLERANCE`` of the exact window value; otherwise (huge old values
next to tiny recent ones, long cancelling histories) they are recomputed from the window's values with
``math.fsum`` — exactness beats speed, and the fallback only runs on adversarial data.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from fdag._types import coerce_value
from fdag._window import WindowSpec
from fdag._window_keys import ColumnIndex

Aggregator = Callable[[ColumnIndex, int, int, Any], Any]

_UNIT = 2.0**-53  # unit roundoff of float64
# Accepted error of a prefix-sum result: far inside the 1e-6 contract (DESIGN §2), so the result is
# also within 1e-6 of what an exact engine computes after its own rounding.
_TOLERANCE = 1e-10


def make_aggregator(spec: WindowSpec, exact: bool) -> tuple[Aggregator, Any]:
    """The aggregator of ``spec`` and the empty-window value to pass it; ``exact`` for int or bool values.

    An aggregator is called as ``aggregate(index, a, z, empty)`` and returns ``empty`` when ``a == z``.
    """
    name = spec.agg.name
    if name == "last_n":
        return _last_n(spec.agg.n or 0), _empty_value(spec)
    return (_BASES[name, exact] if name in ("sum", "mean", "std", "var") else _BASES[name]), _empty_value(spec)


def _empty_value(spec: WindowSpec) -> Any:
    """``spec.empty_value`` in the node's type (a float sum's empty ``0`` is ``0.0``, as in a Float64 column)."""
    value = spec.empty_value
    try:
        return coerce_value(value, spec.returns)
    except (TypeError, OverflowError):
        return value


def _count(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    return z - a if z > a else empty


def _distinct(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    return len(set(index.values[a:z])) if z > a else empty


def _last_n(n: int) -> Aggregator:
    def last_n(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
        if z > a:
            return index.values[max(a, z - n) : z]
        return list(empty) if isinstance(empty, list) else empty  # a fresh list: callers may mutate results

    return last_n


def _first(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    return index.values[a] if z > a else empty


def _last(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    return index.values[z - 1] if z > a else empty


def _min(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    if z == a:
        return empty
    values = index.values
    if z == len(values):  # the window reaches the newest value: the usual online query
        stack = index.mins
        return values[stack[bisect_left(stack, a)]]
    return min(values[a:z])


def _max(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    if z == a:
        return empty
    values = index.values
    if z == len(values):
        stack = index.maxs
        return values[stack[bisect_left(stack, a)]]
    return max(values[a:z])


def _sum_exact(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    if z == a:
        return empty
    sums = index.sums
    return sums[z] - sums[a]


def _sum_float(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    if z == a:
        return empty
    sums = index.sums
    total = sums[z] - sums[a]
    # |error| <= u * (sum of |prefix| over the window's steps + |result|): each step of the running sum
    # rounds by at most u * |prefix|, and the subtraction by u * |result|.
    size = abs(total)
    if (index.bounds[z] - index.bounds[a] + size) * _UNIT <= _TOLERANCE * (size if size > 1.0 else 1.0):
        return total
    return math.fsum(index.values[a:z])


def _mean_exact(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    if z == a:
        return empty
    sums = index.sums
    return (sums[z] - sums[a]) / (z - a)  # int / int is correctly rounded


def _mean_float(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    return _sum_float(index, a, z, None) / (z - a) if z > a else empty


def _var_exact(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    n = z - a
    if n < 2:
        return None if n else empty
    total = index.sums[z] - index.sums[a]
    squares = index.squares[z] - index.squares[a]
    return (n * squares - total * total) / (n * (n - 1))  # exact integers, one correctly rounded division


def _var_float(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
    n = z - a
    if n < 2:
        return None if n else empty
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
    mean = math.fsum(values) / n
    return math.fsum([(v - mean) * (v - mean) for v in values]) / (n - 1)


def _std(var: Aggregator) -> Aggregator:
    def std(index: ColumnIndex, a: int, z: int, empty: Any) -> Any:
        if z == a:
            return empty
        value = var(index, a, z, None)
        return None if value is None else math.sqrt(value)

    return std


_BASES: dict[Any, Aggregator] = {
    "count": _count,
    "distinct_count": _distinct,
    "first": _first,
    "last": _last,
    "min": _min,
    "max": _max,
    ("sum", True): _sum_exact,
    ("sum", False): _sum_float,
    ("mean", True): _mean_exact,
    ("mean", False): _mean_float,
    ("var", True): _var_exact,
    ("var", False): _var_float,
    ("std", True): _std(_var_exact),
    ("std", False): _std(_var_float),
}
