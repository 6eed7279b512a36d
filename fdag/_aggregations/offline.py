"""Window aggregations over contiguous ranges of a sorted event array (the kernels of the offline PIT engine).

Events are sorted by (key, timestamp, tie-break), so every request's window is a half-open range ``[a, b)`` of
positions; null per-event values are dropped first, so ``[a, b)`` indexes non-null values only. Requests are
sorted the same way, so over one window both ends only move forward (``a`` and ``b`` are non-decreasing).

No kernel's cost per request grows with the window's length: count, sum and mean read prefix sums; first, last
and last_n read the range's ends; min and max read a sparse table (power-of-two spans, then whole blocks); var
and std read double-double prefix sums of shifted values and their squares; distinct_count counts, in one
offline sweep, the positions whose previous equal value lies inside the window. Everything is exact: a float
result derived from prefix sums carries a computed error bound, and the few windows whose bound exceeds
``_TOLERANCE`` of the result (a tiny window after a huge history) are recomputed from their values.

The registry binds one ``OfflineKernel`` to each aggregation; the kernels here are its implementations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from fdag._aggregations import big_ints
from fdag._values.lazy import lazy_module

if TYPE_CHECKING:
    import numpy as np
else:  # numpy loads with the first window computed offline, not with `import fdag`
    np = lazy_module("numpy")

# Bounds the exploded (request, event) pairs held at once when doubtful windows are recomputed from their values.
_CHUNK = 1 << 23
_UNIT = 2.0**-53  # unit roundoff of float64
# A prefix-derived float is kept when its error bound is within this share of it (agreement asks for 1e-6).
_TOLERANCE = 1e-10
_SPLIT = 2.0**27 + 1.0  # Dekker's splitter: x * _SPLIT separates the high and low halves of x's significand
# Ranges up to 2**(_SPAN_LEVELS + 1) - 1 long read two power-of-two spans; longer ones also whole blocks.
_SPAN_LEVELS = 6


# ---------------------------------------------------------------- error-free transformations (vectorized)


def _two_sum(x: np.ndarray, y: np.ndarray | np.float64) -> tuple[np.ndarray, np.ndarray]:
    """``(s, e)`` with ``s = fl(x + y)`` and ``s + e == x + y`` exactly (Knuth)."""
    s = x + y
    virtual = s - x
    return s, (x - (s - virtual)) + (y - virtual)


def _two_product(x: np.ndarray, y: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """``(p, e)`` with ``p = fl(x * y)`` and ``p + e == x * y`` exactly (Dekker; no overflow assumed)."""
    p = x * y
    x_high, x_low = _halves(x)
    y_high, y_low = _halves(np.asarray(y, dtype=np.float64))
    return p, ((x_high * y_high - p) + x_high * y_low + x_low * y_high) + x_low * y_low


def _two_square(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(p, e)`` with ``p = fl(x * x)`` and ``p + e == x * x`` exactly (one split for both factors)."""
    p = x * x
    high, low = _halves(x)
    error = high * high
    error -= p
    cross = high * low
    cross += cross
    error += cross
    low *= low
    error += low
    return p, error


def _halves(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` as ``high + low`` with 26-bit halves, so products of halves are exact."""
    t = x * _SPLIT
    high = t - (t - x)
    return high, x - high


# ---------------------------------------------------------------- prefix sums


def compensated_prefix(values: np.ndarray, low: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """Prefix sums of ``values`` (+ ``low``, small corrections) as (sum, compensation) pairs with a leading 0.

    ``np.cumsum`` is strictly sequential, so each step's rounding error is recovered exactly (Knuth's TwoSum) and
    accumulated separately: a window ``(P[b] - P[a]) + (C[b] - C[a])`` is then accurate to about double-double
    precision, however large the history before the window. The third item, ``drift``, bounds what one step adds
    to that error (the compensation's own running sum rounds by at most ``u * |C|``, a corrected term by
    ``u * |term|``): a window of length ``L`` is off by at most ``L * drift`` plus the rounding of its two ends.
    """
    prefix = np.empty(len(values) + 1)
    prefix[0] = 0.0
    np.cumsum(values, out=prefix[1:])
    before, after = prefix[:-1], prefix[1:]
    # In place, in the compensation's own buffer (fresh large arrays cost page faults): TwoSum's error terms.
    compensation = np.empty_like(prefix)
    compensation[0] = 0.0
    errors = compensation[1:]
    virtual = np.subtract(after, before)
    np.subtract(after, virtual, out=errors)
    np.subtract(before, errors, out=errors)
    np.subtract(values, virtual, out=virtual)
    errors += virtual
    largest = 0.0
    if low is not None:
        errors += low
        largest = _largest(errors)  # each corrected term rounded by at most u * |term|
    np.cumsum(errors, out=errors)
    return prefix, compensation, _UNIT * max(largest, _largest(compensation))


def _largest(values: np.ndarray) -> float:
    """The largest magnitude in ``values`` (0 for none)."""
    return float(max(values.max(initial=0.0), -values.min(initial=0.0)))


@dataclass(frozen=True)
class Prefix:
    """Prefix sums of one value column: the sums, their compensation, counts of ±inf, and what to refine with."""

    sums: np.ndarray
    compensation: np.ndarray | None = None  # floats only
    infinities: tuple[np.ndarray, np.ndarray] | None = None  # prefix counts of +inf and -inf
    values: np.ndarray | None = None  # floats only: for exact sums where the error bound is too wide
    drift: float = 0.0  # floats only: the error one step of the window may add (see ``compensated_prefix``)


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
        sums, compensation, drift = compensated_prefix(finite_values)
        return Prefix(sums, compensation, infinities, finite_values, drift)
    prefix = np.zeros(len(values) + 1, dtype=np.int64)
    with np.errstate(over="ignore"):
        np.cumsum(values.astype(np.int64, copy=False), out=prefix[1:])
    return Prefix(prefix)


def _window_pair(
    prefix: np.ndarray, compensation: np.ndarray, drift: float, a: np.ndarray, b: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each window's sum as a double-double ``(high, low)`` and a bound on its absolute error.

    The difference of the two prefixes is made exact by TwoSum, so the result does not depend on where the
    prefix starts (a partition of the spine gives the same bits as the whole); what remains inexact is the
    compensation: ``drift`` per step inside the window, and the rounding of its difference and of the low part.
    """
    high, rounding = _two_sum(prefix[b], -prefix[a])
    correction = compensation[b] - compensation[a]
    low = rounding + correction
    error = drift * (b - a) + _UNIT * (np.abs(correction) + np.abs(low))
    high, low = _two_sum(high, low)
    return high, low, error


def range_sum(prefix: Prefix, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The sum of each range ``[a, b)`` from ``prefix_sums`` (int64 wraps back to the exact in-range value)."""
    if prefix.compensation is None:
        with np.errstate(over="ignore"):
            return prefix.sums[b] - prefix.sums[a]
    high, low, error = _window_pair(prefix.sums, prefix.compensation, prefix.drift, a, b)
    total = high + low
    # Windows the bound cannot vouch for (tiny results after a huge history) are summed exactly.
    assert prefix.values is not None
    for i in np.flatnonzero((b > a) & ~(error <= _TOLERANCE * np.abs(total))):
        total[i] = math.fsum(prefix.values[a[i]:b[i]])
    if prefix.infinities is not None:
        positive, negative = prefix.infinities
        up, down = positive[b] - positive[a] > 0, negative[b] - negative[a] > 0
        total = np.where(up & down, np.nan, np.where(up, np.inf, np.where(down, -np.inf, total)))
    return total


# ---------------------------------------------------------------- min and max


def _floor_log2(lengths: np.ndarray) -> np.ndarray:
    """``floor(log2(n))`` of positive integers (exact below 2**53)."""
    return np.frexp(lengths.astype(np.float64))[1].astype(np.int64) - 1


def range_extreme(values: np.ndarray, a: np.ndarray, b: np.ndarray, largest: bool) -> np.ndarray:
    """Minimum (or maximum) of ``values[a:b]`` per request; entries of empty ranges are left arbitrary.

    A sparse table built one level at a time (O(n) memory): level ``j`` holds the extreme of every span of
    ``2**j`` values, and a range of length ``L`` is the extreme of two overlapping spans of ``2**floor(log2 L)``.
    Levels stop at ``_SPAN_LEVELS``; a longer range adds the whole blocks of that size inside it, read from a
    sparse table over the blocks. O(n * _SPAN_LEVELS) to build, O(1) per request.
    """
    extreme = np.maximum if largest else np.minimum
    out = np.zeros(len(a), dtype=values.dtype)
    rows = np.flatnonzero(b > a)
    if not len(rows):
        return out
    level = _floor_log2(b[rows] - a[rows])
    top = min(int(level.max()), _SPAN_LEVELS)
    spans = values  # spans[i] = extreme of values[i : i + 2**j]
    for j in range(top + 1):
        if j:
            half = 1 << (j - 1)
            spans = extreme(spans[: len(spans) - half], spans[half:])
        here = rows[level == j]
        out[here] = extreme(spans[a[here]], spans[b[here] - (1 << j)])
    longer = rows[level > top]
    if len(longer):
        out[longer] = _across_blocks(spans, 1 << top, a[longer], b[longer], extreme)
    return out


def _across_blocks(spans: np.ndarray, size: int, a: np.ndarray, b: np.ndarray, extreme: np.ufunc) -> np.ndarray:
    """Extremes of ranges at least ``2 * size`` long, from ``spans`` (extremes of every ``size`` values).

    The range is the two spans at its ends plus the aligned blocks ``[k * size, (k + 1) * size)`` inside it
    (at least one, by its length), whose extreme a sparse table over the blocks gives in O(1).
    """
    blocks = [spans[::size]]
    while 2 << (len(blocks) - 1) <= len(blocks[0]):
        step = 1 << (len(blocks) - 1)
        blocks.append(extreme(blocks[-1][:-step], blocks[-1][step:]))
    table = np.zeros((len(blocks), len(blocks[0])), dtype=spans.dtype)
    for height, row in enumerate(blocks):
        table[height, : len(row)] = row
    first, last = -(-a // size), b // size - 1
    level = _floor_log2(last - first + 1)
    inner = extreme(table[level, first], table[level, last - (1 << level) + 1])
    return extreme(extreme(spans[a], spans[b - size]), inner)


# ---------------------------------------------------------------- var and std


@dataclass(frozen=True)
class Moments:
    """Double-double prefix sums of ``d = x - shift`` and ``d**2`` for the windows' variances.

    The shift (the median of a sample of the values) keeps the squares' scale near the data's spread instead of
    its magnitude; ``d`` and ``d**2`` are formed exactly (TwoSum, Dekker's product), their low parts joining the
    compensation.
    """

    values: np.ndarray  # the finite values (infinite ones as the shift): for exact recomputation
    sums: tuple[np.ndarray, np.ndarray, float]  # (prefix, compensation, drift) of d
    squares: tuple[np.ndarray, np.ndarray, float]  # the same of d**2
    inexact: float  # relative bound on each d**2 beyond its compensated parts (0 when d is exact)
    nonfinite: np.ndarray | None  # prefix counts of ±inf: such windows have no variance (NaN)

    @classmethod
    def of(cls, values: np.ndarray) -> Moments:
        """The moments of ``values`` (floats; ±inf allowed, NaN not)."""
        x = values.astype(np.float64, copy=False)
        finite = np.isfinite(x)
        nonfinite = None if finite.all() else _counts(~finite)
        kept = x if nonfinite is None else x[finite]
        # Any value near the middle does: a sample's median, O(1) (the shift only has to sit among the values).
        shift = float(np.median(kept[:: max(len(kept) // 1024, 1)])) if len(kept) else 0.0
        if nonfinite is not None:
            x = np.where(finite, x, shift)
        d, d_low = _two_sum(x, np.float64(-shift))
        square, square_low = _two_square(d)
        exact = not d_low.any()
        if not exact:
            square_low += 2.0 * d * d_low  # (d + d_low)**2 less d_low**2, below u**2 * d**2
        inexact = 0.0 if exact else 6.0 * _UNIT * _UNIT
        return cls(x, compensated_prefix(d, None if exact else d_low), compensated_prefix(square, square_low),
                   inexact, nonfinite)

    def variances(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Sample variance of each ``[a, b)`` (NaN below two values or with ±inf inside)."""
        out = np.full(len(a), np.nan)
        rows = np.flatnonzero(b - a > 1)
        if self.nonfinite is not None:
            rows = rows[self.nonfinite[b[rows]] == self.nonfinite[a[rows]]]
        a, b = a[rows], b[rows]
        n = (b - a).astype(np.float64)
        s_high, s_low, s_error = _window_pair(*self.sums, a, b)
        q_high, q_low, q_error = _window_pair(*self.squares, a, b)
        q_error += self.inexact * q_high
        # n * M2 = n * Q - S**2 in double-double arithmetic.
        nq_high, nq_low = _two_product(q_high, n)
        scaled_low = q_low * n
        nq_low += scaled_low
        ss_high, ss_low = _two_square(s_high)
        cross = 2.0 * s_high * s_low
        ss_low += cross + s_low * s_low
        high, low = _two_sum(nq_high, -ss_high)
        spread = nq_low - ss_low
        low += spread
        centred = high + low
        # Error: Q's and S's own bounds carried through n * Q - S**2, plus every rounding of the low parts.
        s_size = np.abs(s_high)
        error = n * q_error + (2.0 * s_size + s_error) * s_error + 2.0 * _UNIT * (
            np.abs(scaled_low) + np.abs(nq_low) + np.abs(cross) + s_low * s_low + np.abs(ss_low)
            + np.abs(spread) + np.abs(low)
        )
        with np.errstate(invalid="ignore"):
            out[rows] = centred / (n * (n - 1.0))
            doubtful = ~(error <= _TOLERANCE * centred)
        if doubtful.any():
            out[rows[doubtful]] = _two_pass_variance(self.values, a[doubtful], b[doubtful])
        return out


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


def _two_pass_variance(values: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sample variance of ranges of at least two values by the corrected two-pass algorithm, from the values.

    Costs the ranges' total length: used only for the windows whose prefix-derived value is not provably close.
    """
    out = np.full(len(a), np.nan)
    for rows, sizes, flat, starts in _chunks(a, b):
        x = values[flat]
        mean = np.add.reduceat(x, starts) / sizes
        deviation = x - np.repeat(mean, sizes)
        residual = np.add.reduceat(deviation, starts)
        squares = np.add.reduceat(deviation * deviation, starts) - residual * residual / sizes
        out[rows] = np.maximum(squares, 0.0) / (sizes - 1)
    return out


# ---------------------------------------------------------------- distinct_count and last_n


def previous_equal(values: pl.Series) -> np.ndarray:
    """For each position, the previous position holding an equal value, or -1 (one stable sort by value).

    Floats compare as numbers: Polars sorts ``-0.0`` and ``0.0`` as one value, as a Python set sees them.
    """
    frame = pl.DataFrame({"v": values}).with_row_index("i").sort("v", maintain_order=True)
    same = frame.select(pl.col("v").eq_missing(pl.col("v").shift(1)).fill_null(False)).to_series().to_numpy()
    positions = frame["i"].to_numpy().astype(np.int64)
    previous = np.full(len(values), -1, dtype=np.int64)
    previous[positions[1:][same[1:]]] = positions[:-1][same[1:]]
    return previous


def range_distinct(previous: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distinct values in each ``[a, b)``, for non-decreasing ``a`` and ``b``: O(n + q), one offline sweep.

    A position ``i`` repeats a value inside the window exactly when ``a <= previous[i]`` and ``i < b`` (then
    ``i >= a`` too). With both ends non-decreasing, the requests counting ``i`` as a repeat are a contiguous run:
    those after the last with ``b <= i`` and up to the last with ``a <= previous[i]``. Counting the runs with a
    difference array gives every request's repeats; distinct = length - repeats.
    """
    size = len(previous) + 1
    b_at_most = np.cumsum(np.bincount(b, minlength=size))  # requests with b <= x
    a_at_most = np.cumsum(np.bincount(a, minlength=size))  # requests with a <= x
    positions = np.flatnonzero(previous >= 0)
    start, stop = b_at_most[positions], a_at_most[previous[positions]]
    run = start < stop
    changes = np.bincount(start[run], minlength=len(a) + 1) - np.bincount(stop[run], minlength=len(a) + 1)
    return (b - a) - np.cumsum(changes[:-1])


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


# ---------------------------------------------------------------- the kernels


@dataclass(frozen=True, eq=False)
class Window:
    """Each (sorted) request's range ``[a, b)`` of one column's non-null values in one window.

    Both ends are non-decreasing (requests sorted like the events), which ``distinct_count`` relies on. ``key``
    names the window (its length and closedness): kernels of one window share work cached under it in the
    column's cache (sum and mean read one range sum).
    """

    a: np.ndarray
    b: np.ndarray
    key: Hashable

    def __post_init__(self) -> None:
        # An invariant of the offline engine, which builds every Window (requests sorted like the events).
        assert len(self.a) == len(self.b) and np.all(self.a <= self.b) and _rising(self.a) and _rising(self.b), \
            "Window ranges must satisfy a <= b with both ends non-decreasing (requests sorted like the events)"


def _rising(ends: np.ndarray) -> bool:
    return bool(np.all(ends[1:] >= ends[:-1]))


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
    """The window's sums, from the column's prefix sums, computed once per window for every kernel reading them
    (for ints an object array of exact Python ints where some window's sum may leave int64)."""
    if "prefix" not in cache:
        cache["numbers"] = physical(values)
        cache["prefix"] = prefix_sums(cache["numbers"])
    key = ("sums", window.key)
    if key not in cache:
        sums = range_sum(cache["prefix"], window.a, window.b)
        if cache["prefix"].compensation is None:
            sums = big_ints.checked_sums(cache["numbers"], sums, window.a, window.b)
        cache[key] = sums
    return cache[key]


def total(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
    """Sum: exact for ints (null where the window's sum does not fit in int64: an overflow error, as online),
    within ``_TOLERANCE`` of the exact sum for floats."""
    sums = _window_sums(values, window, cache)
    if sums.dtype == object:
        return pl.Series([int(s) if big_ints.fits_int64(s) else None for s in sums], dtype=pl.Int64)
    return pl.Series(sums)


def mean(values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
    """Mean: the window's sum over its count (for big ints one correctly rounded division of exact integers)."""
    sums, counts = _window_sums(values, window, cache), np.maximum(window.b - window.a, 1)
    if sums.dtype == object:
        return pl.Series([int(s) / int(n) for s, n in zip(sums, counts, strict=True)], dtype=pl.Float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return pl.Series(sums / counts)


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
        key = ("variances", window.key)
        if key not in cache:
            numbers = physical(values)
            if big_ints.floats_inexact(numbers):
                cache[key] = big_ints.exact_variances(numbers, window.a, window.b)
            else:
                if "moments" not in cache:
                    cache["moments"] = Moments.of(numbers)
                cache[key] = cache["moments"].variances(window.a, window.b)
        variance = cache[key]
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
