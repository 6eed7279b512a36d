"""Window aggregations over contiguous ranges of a sorted event array (the kernels of the offline PIT engine).

Events are sorted by (key, timestamp, tie-break), so every request's window is a half-open range ``[a, b)`` of
positions; null per-event values are dropped first, so ``[a, b)`` indexes non-null values only.
Prefix-sum aggregations (count, sum, mean) cost O(1) per request; first/last/last_n read the range's ends;
min, max, std, var and distinct_count reduce the range's values exactly, in bounded-memory chunks.

The registry binds one ``OfflineKernel`` to each aggregation; the kernels here are its implementations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from fdag._values.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:  # numpy loads with the first window computed offline, not with `import fdag`
    np = lazy_module("numpy")

# Bounds the exploded (request, event) pairs held at once by the range reductions: ~8 bytes x a few arrays each.
_CHUNK = 1 << 23
# A prefix difference is trusted when the window's sum exceeds this share of the largest prefix before it
# (double-double prefix sums are good to ~1e-30 of it; this leaves the 1e-9 relative agreement a wide margin).
_DOUBTFUL = 1e-15


def compensated_prefix(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums of ``values`` as (sum, compensation) pairs, both with a leading 0.

    ``np.cumsum`` is strictly sequential, so each step's rounding error is recovered exactly (Knuth's TwoSum) and
    accumulated separately: a window ``(P[b] - P[a]) + (C[b] - C[a])`` is then accurate to about double-double
    precision, however large the history before the window (no catastrophic cancellation).
    """
    prefix = np.empty(len(values) + 1)
    prefix[0] = 0.0
    np.cumsum(values, out=prefix[1:])
    before, after = prefix[:-1], prefix[1:]
    virtual = after - before
    errors = (before - (after - virtual)) + (values - virtual)
    compensation = np.empty_like(prefix)
    compensation[0] = 0.0
    np.cumsum(errors, out=compensation[1:])
    return prefix, compensation


@dataclass(frozen=True)
class Prefix:
    """Prefix sums of one value column: the sums, their compensation, counts of ±inf, and what to refine with."""

    sums: np.ndarray
    compensation: np.ndarray | None = None  # floats only
    infinities: tuple[np.ndarray, np.ndarray] | None = None  # prefix counts of +inf and -inf
    values: np.ndarray | None = None  # floats only: for exact sums where the prefix difference is doubtful
    scale: np.ndarray | None = None  # running max of |prefix|: bounds the difference's rounding error


def _counts(flags: np.ndarray) -> np.ndarray:
    counts = np.zeros(len(flags) + 1, dtype=np.int64)
    np.cumsum(flags, out=counts[1:])
    return counts


def prefix_sums(values: np.ndarray) -> Prefix:
    """Prefix sums with a leading 0: compensated for floats, wrapping int64 for integers (differences stay exact).

    Infinities would poison every later prefix (inf - inf is NaN), so they are counted apart and the finite
    values summed alone; a window then sums to +inf, -inf or NaN (both signs) exactly as Python's ``sum``.
    """
    if values.dtype.kind == "f":
        finite = np.isfinite(values)
        infinities = None if finite.all() else (_counts(values == np.inf), _counts(values == -np.inf))
        finite_values = values if infinities is None else np.where(finite, values, 0.0)
        sums, compensation = compensated_prefix(finite_values)
        return Prefix(sums, compensation, infinities, finite_values, np.maximum.accumulate(np.abs(sums)))
    prefix = np.zeros(len(values) + 1, dtype=np.int64)
    with np.errstate(over="ignore"):
        np.cumsum(values.astype(np.int64, copy=False), out=prefix[1:])
    return Prefix(prefix)


def range_sum(prefix: Prefix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sum of each range ``[a, b)`` from ``prefix_sums`` (int64 wraps back to the exact in-range value)."""
    with np.errstate(over="ignore"):
        total = prefix.sums[b] - prefix.sums[a]
    if prefix.compensation is None:
        return total
    # The difference's own rounding error (TwoSum) joins the compensation, so the result does not depend on
    # where the prefix starts: a partition of the spine gives the same bits as the whole.
    high, low = prefix.sums[b], prefix.sums[a]
    virtual = total - high
    rounding = (high - (total - virtual)) - (low + virtual)
    total = total + (rounding + (prefix.compensation[b] - prefix.compensation[a]))
    assert prefix.values is not None and prefix.scale is not None
    # Tiny results after a huge history carry the history's rounding error: sum those windows exactly.
    doubtful = np.flatnonzero((b > a) & (np.abs(total) <= _DOUBTFUL * prefix.scale[b]))
    for i in doubtful:
        total[i] = math.fsum(prefix.values[a[i]:b[i]])
    if prefix.infinities is not None:
        positive, negative = prefix.infinities
        up, down = positive[b] - positive[a] > 0, negative[b] - negative[a] > 0
        total = np.where(up & down, np.nan, np.where(up, np.inf, np.where(down, -np.inf, total)))
    return total


def _chunks(a: np.ndarray, b: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Non-empty ranges in chunks: (request positions, lengths, flat value positions, segment starts)."""
    nonempty = np.flatnonzero(b > a)
    lengths = (b - a)[nonempty]
    ends = np.cumsum(lengths)
    first = 0
    while first < len(nonempty):
        base = ends[first - 1] if first else 0
        last = max(int(np.searchsorted(ends, base + _CHUNK, side="right")), first + 1)
        rows, sizes = nonempty[first:last], lengths[first:last]
        starts = np.zeros(len(sizes), dtype=np.int64)
        np.cumsum(sizes[:-1], out=starts[1:])
        flat = np.arange(int(sizes.sum()), dtype=np.int64) + np.repeat(a[rows] - starts, sizes)
        yield rows, sizes, flat, starts
        first = last


def range_extreme(values: np.ndarray, a: np.ndarray, b: np.ndarray, largest: bool) -> np.ndarray:
    """Minimum (or maximum) of ``values[a:b]`` per request; entries of empty ranges are left arbitrary."""
    out = np.zeros(len(a), dtype=values.dtype)
    reduce = np.maximum.reduceat if largest else np.minimum.reduceat
    for rows, _, flat, starts in _chunks(a, b):
        out[rows] = reduce(values[flat], starts)
    return out


def range_variance(values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sample variance (ddof=1) of ``values[a:b]`` by the corrected two-pass algorithm; NaN below two values."""
    out = np.full(len(a), np.nan)
    for rows, sizes, flat, starts in _chunks(a, b):
        x = values[flat].astype(np.float64, copy=False)
        mean = np.add.reduceat(x, starts) / sizes
        deviation = x - np.repeat(mean, sizes)
        residual = np.add.reduceat(deviation, starts)
        squares = np.add.reduceat(deviation * deviation, starts) - residual * residual / sizes
        with np.errstate(divide="ignore", invalid="ignore"):
            out[rows] = np.where(sizes > 1, np.maximum(squares, 0.0) / (sizes - 1), np.nan)
    return out


def previous_equal(values: pl.Series) -> np.ndarray:
    """For each position, the previous position holding an equal value, or -1 (one sort by (value, position))."""
    frame = pl.DataFrame({"v": values}).with_row_index("i").sort("v", "i")
    same = frame.select(pl.col("v").eq_missing(pl.col("v").shift(1)) & pl.col("i").shift(1).is_not_null())
    before = frame["i"].shift(1).fill_null(0).to_numpy().astype(np.int64)
    previous = np.full(len(values), -1, dtype=np.int64)
    previous[frame["i"].to_numpy()] = np.where(same.to_series().to_numpy(), before, -1)
    return previous


def range_distinct(previous: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct values in ``[a, b)``: positions whose previous equal value lies before ``a`` (or nowhere)."""
    out = np.zeros(len(a), dtype=np.int64)
    for rows, sizes, flat, starts in _chunks(a, b):
        fresh = (previous[flat] < np.repeat(a[rows], sizes)).astype(np.int64)
        out[rows] = np.add.reduceat(fresh, starts)
    return out


def range_tail(values: pl.Series, a: np.ndarray, b: np.ndarray, n: int) -> pl.Series:
    """The newest ``n`` values of each range as a list (newest last); empty ranges give ``[]``."""
    start = np.maximum(a, b - n)
    sizes = b - start
    offsets = np.zeros(len(a) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    flat = np.arange(int(offsets[-1]), dtype=np.int64) + np.repeat(start - offsets[:-1], sizes)
    return _from_offsets(values.gather(pl.Series(flat)), offsets)


def _from_offsets(items: pl.Series, offsets: np.ndarray) -> pl.Series:
    """A List series whose i-th entry is ``items[offsets[i]:offsets[i+1]]``."""
    import pyarrow as pa  # here, not at the top: only list aggregations need it, and it costs ~0.1 s to import

    array = pa.LargeListArray.from_arrays(pa.array(offsets, type=pa.int64()), items.to_arrow())
    return pl.Series(items.name, pl.from_arrow(array)).cast(pl.List(items.dtype))


@dataclass(frozen=True, eq=False)
class Window:
    """Each (sorted) request's range ``[a, b)`` of one column's non-null values in one window.

    ``key`` names the window (its length and closedness): kernels of one window share work cached under it in the
    column's cache (sum and mean read one range sum).
    """

    a: np.ndarray
    b: np.ndarray
    key: Hashable


Kernel = Callable[[pl.Series, Window, dict[Any, Any]], pl.Series]
# (the column's non-null values, the window, the column's cache, the aggregation's n) -> one value per request,
# before empty-window defaults (entries of empty ranges are arbitrary)
OfflineKernel = Callable[[pl.Series, Window, dict[Any, Any], "int | None"], pl.Series]


def plain(kernel: Kernel) -> OfflineKernel:
    """The offline kernel of an aggregation that takes no ``n``."""
    return lambda values, window, cache, n: kernel(values, window, cache)


def count(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
    """Number of non-null values: the range's length."""
    return pl.Series(window.b - window.a)


def _window_sums(values: pl.Series, window: Window, cache: dict[Any, Any]) -> np.ndarray:
    """The window's sums, from the column's prefix sums, computed once per window for every kernel reading them."""
    if "prefix" not in cache:
        cache["prefix"] = prefix_sums(physical(values))
    key = ("sums", window.key)
    if key not in cache:
        cache[key] = range_sum(cache["prefix"], window.a, window.b)
    return cache[key]


def total(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
    """Sum: exact for ints (wrapping int64 differences), compensated for floats."""
    return pl.Series(_window_sums(values, window, cache))


def mean(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
    """Mean: the window's sum over its count."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return pl.Series(_window_sums(values, window, cache) / np.maximum(window.b - window.a, 1))


def _at(values: pl.Series, window: Window, position: np.ndarray) -> pl.Series:
    """The value at ``position`` of each non-empty range."""
    if not len(values):
        return pl.Series([None] * len(window.a), dtype=values.dtype)
    return values.gather(pl.Series(np.where(window.b > window.a, position, 0)))


def first(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
    """The oldest value by (timestamp, tie-break)."""
    return _at(values, window, window.a)


def last(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
    """The newest value by (timestamp, tie-break)."""
    return _at(values, window, window.b - 1)


def last_n(values: pl.Series, window: Window, cache: dict[Any, Any], n: int | None) -> pl.Series:
    """The newest ``n`` values, newest last."""
    return range_tail(values, window.a, window.b, n or 0)


def distinct_count(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
    """Number of distinct non-null values (exact)."""
    if "previous" not in cache:
        cache["previous"] = previous_equal(values)
    return pl.Series(range_distinct(cache["previous"], window.a, window.b))


def spread(root: bool) -> Kernel:
    """Sample variance, or standard deviation when ``root``; null below two values."""

    def kernel(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
        variance = range_variance(physical(values), window.a, window.b)
        return pl.Series(np.sqrt(variance) if root else variance).fill_nan(None)

    return kernel


def extreme(largest: bool) -> Kernel:
    """Maximum when ``largest``, else minimum; strings compare by their dense rank among the column's values."""

    def kernel(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
        a, b = window.a, window.b
        if values.dtype == pl.String:
            if "ranks" not in cache:
                uniques = values.unique().sort()
                cache["ranks"] = (uniques, values.rank("dense").cast(pl.Int64).to_numpy() - 1)
            uniques, ranks = cache["ranks"]
            best = range_extreme(ranks, a, b, largest=largest)
            return uniques.gather(pl.Series(np.where(b > a, best, 0))) if len(uniques) else values.clear(len(a))
        return pl.Series(range_extreme(physical(values), a, b, largest=largest)).cast(values.dtype)

    return kernel


def physical(values: pl.Series) -> np.ndarray:
    """The values as a numeric numpy array (floats stay floats; ints, bools and temporals become their integers)."""
    if values.dtype.is_float():
        return values.to_numpy()
    return values.to_physical().cast(pl.Int64).to_numpy()
