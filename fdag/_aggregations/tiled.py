"""Window aggregations from mergeable partial states, for stores that keep pre-aggregated tiles.

A ``Partial`` holds, for one value column over a window (the merged tiles inside it plus the raw events where
its edges cut a tile), what the tiled aggregations need: the count of non-null values, their sum and their sum
of squares kept *exactly* (as lists of components whose exact sum is the value: the doubles of a tile's exact
expansion, and the edge values themselves), the min and the max, and the first and last values by (timestamp,
tie-break). Each aggregation's value is computed once from those: int sums, means and variances exactly as the
in-memory prefix sums give them; a float sum is ``math.fsum`` of the components, i.e. the correctly rounded
exact sum; a float variance is the correctly rounded value of the exact rational one.

Aggregations whose state does not merge in bounded size (``distinct_count``, ``last_n``) have no tile rule:
stores read their raw events.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from fdag._aggregations.online import exact_sum


@dataclass
class Partial:
    """The partial state of one value column over one window (see the module docstring)."""

    count: int = 0
    sums: list[Any] = field(default_factory=list)  # components whose exact sum is the sum of the values
    squares: list[Any] = field(default_factory=list)  # the same for the squares (ints, floats or Fractions)
    low: Any = None
    high: Any = None
    first: Any = None
    last: Any = None


TileAggregator = Callable[[Partial], Any]
TileFactory = Callable[[Any, bool], TileAggregator]  # (empty-window value, int/bool values) -> the aggregator


@dataclass(frozen=True)
class TileRule:
    """How an aggregation reads a ``Partial``: ``reads`` names the partials it needs beside the count and the
    first and last values, ``s`` the sum, ``q`` the sum of squares, ``m`` the min, ``M`` the max (those need a
    column of numbers, bools or instants; over others the aggregation reads raw events)."""

    factory: TileFactory
    reads: str = ""

    @property
    def numeric(self) -> bool:
        """Whether it reads a partial only numbers have."""
        return bool(self.reads)


def count(empty: Any, exact: bool) -> TileAggregator:
    """Number of non-null values."""
    return lambda p: p.count if p.count else empty


def first(empty: Any, exact: bool) -> TileAggregator:
    """The oldest non-null value by (timestamp, tie-break)."""
    return lambda p: p.first if p.count else empty


def last(empty: Any, exact: bool) -> TileAggregator:
    """The newest non-null value by (timestamp, tie-break)."""
    return lambda p: p.last if p.count else empty


def low(empty: Any, exact: bool) -> TileAggregator:
    """The smallest value."""
    return lambda p: p.low if p.count else empty


def high(empty: Any, exact: bool) -> TileAggregator:
    """The largest value."""
    return lambda p: p.high if p.count else empty


def total(p: Partial, exact: bool) -> Any:
    """The sum: exact over ints, correctly rounded over floats."""
    return sum(map(int, p.sums)) if exact else exact_sum(p.sums)


def sum_of(empty: Any, exact: bool) -> TileAggregator:
    """Sum of the values."""
    return lambda p: total(p, exact) if p.count else empty


def mean(empty: Any, exact: bool) -> TileAggregator:
    """Mean of the values: the exact (or correctly rounded) sum divided once."""
    return lambda p: total(p, exact) / p.count if p.count else empty


def variance(p: Partial, exact: bool) -> float | None:
    """Sample variance from the exact sums: ``(n * squares - sum**2) / (n * (n - 1))``, rounded once."""
    n = p.count
    if n < 2:
        return None
    if exact:
        s1, s2 = sum(map(int, p.sums)), sum(map(int, p.squares))
        return (n * s2 - s1 * s1) / (n * (n - 1))
    f1, f2 = sum(map(Fraction, p.sums)), sum(map(Fraction, p.squares))
    return float((n * f2 - f1 * f1) / (n * (n - 1)))


def spread(root: bool) -> TileFactory:
    """Sample variance, or standard deviation when ``root``; null below two values."""

    def factory(empty: Any, exact: bool) -> TileAggregator:
        def spread(p: Partial) -> Any:
            if not p.count:
                return empty
            value = variance(p, exact)
            return math.sqrt(value) if root and value is not None else value

        return spread

    return factory
