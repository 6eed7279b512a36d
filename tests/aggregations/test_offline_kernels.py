"""Each offline range kernel against brute force on random arrays and random (non-decreasing) ranges.

The kernels see a column's non-null values and, per request, a range ``[a, b)`` of them whose ends only move
forward; these tests draw both at random, with empty ranges, empty columns, heavy ties, ±inf, -0.0 and
magnitudes that defeat naive prefix sums, and compare every value with an exact recomputation of its range.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdag._aggregations.offline import Window
from fdag._aggregations.registry import parse_aggregation

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Magnitudes chosen to break plain prefix sums: huge values of both signs next to tiny ones, offsets with
# tiny noise (catastrophic cancellation in sum of squares), exact ties, signed zeros and infinities.
FLOATS = st.one_of(
    st.floats(-1e15, 1e15, allow_nan=False, allow_infinity=False),
    st.floats(-1.0, 1.0, allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, 1e9, 1e9 + 1e-3, 1e9 - 2e-3, -1e12, 1e-300]),
)
INTS = st.integers(-(2**40), 2**40) | st.sampled_from([0, 1, -1, 7])
STRINGS = st.sampled_from(["", "a", "b", "ab", "é", "z"])


@st.composite
def ranges(draw: st.DrawFn, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Non-decreasing ``a`` and ``b`` with ``a <= b <= n``: random pairs, each end sorted on its own."""
    q = draw(st.integers(0, 12))
    pairs = [sorted((draw(st.integers(0, n)), draw(st.integers(0, n)))) for _ in range(q)]
    pairs += [(k, k) for k in draw(st.lists(st.integers(0, n), max_size=2))]  # explicit empty ranges
    a = np.sort(np.array([p[0] for p in pairs], dtype=np.int64))
    b = np.sort(np.array([p[1] for p in pairs], dtype=np.int64))
    return a, b  # sorting both ends keeps a[i] <= b[i]


@st.composite
def columns(draw: st.DrawFn, items: st.SearchStrategy[Any], dtype: pl.DataType, big: bool = False) -> tuple:
    """Values (optionally long, to reach the block level of the sparse table) and ranges over them."""
    if big and draw(st.booleans()):
        pool = draw(st.lists(items, min_size=1, max_size=6))
        size = draw(st.integers(128, 700))
        picks = draw(st.lists(st.integers(0, len(pool) - 1), min_size=size, max_size=size))
        values = [pool[i] for i in picks]
    else:
        values = draw(st.lists(items, max_size=40))
    return pl.Series(values, dtype=dtype), *draw(ranges(len(values)))


def kernel(agg: str, values: pl.Series, a: np.ndarray, b: np.ndarray) -> list[Any]:
    """The registry's offline kernel for ``agg``, with nulls where the range is empty (as the engine applies)."""
    got = parse_aggregation(agg).aggregate(values, Window(a, b, "w"), {}).to_list()
    return [value if stop > start or agg in ("count", "distinct_count", "last_n(3)") else None
            for value, start, stop in zip(got, a, b, strict=True)]


def windows(values: pl.Series, a: np.ndarray, b: np.ndarray) -> list[list[Any]]:
    items = values.to_list()
    return [items[start:stop] for start, stop in zip(a, b, strict=True)]


def exact_sum(xs: list[float]) -> float:
    """Python's ``sum`` semantics for infinities, exact otherwise."""
    if math.inf in xs and -math.inf in xs:
        return math.nan
    if math.inf in xs or -math.inf in xs:
        return math.inf if math.inf in xs else -math.inf
    return float(sum(map(Fraction, xs), Fraction(0)))


def exact_variance(xs: list[float]) -> float | None:
    if len(xs) < 2 or any(math.isinf(x) for x in xs):
        return None
    exact = [Fraction(x) for x in xs]
    mean = sum(exact, Fraction(0)) / len(exact)
    return float(sum(((x - mean) ** 2 for x in exact), Fraction(0)) / (len(exact) - 1))


def same_float(got: float | None, want: float | None, rel: float) -> bool:
    if want is None or got is None:
        return got is want
    if math.isnan(want):
        return math.isnan(got)
    return got == want or math.isclose(got, want, rel_tol=rel, abs_tol=0.0)


@SETTINGS
@given(columns(FLOATS | st.sampled_from([math.inf, -math.inf]), pl.Float64, big=True))
def test_min_max_of_floats(column: tuple) -> None:
    values, a, b = column
    for agg, pick in (("min", min), ("max", max)):
        assert kernel(agg, values, a, b) == [pick(xs) if xs else None for xs in windows(values, a, b)]


@SETTINGS
@given(columns(INTS, pl.Int64, big=True))
def test_min_max_of_ints(column: tuple) -> None:
    values, a, b = column
    for agg, pick in (("min", min), ("max", max)):
        assert kernel(agg, values, a, b) == [pick(xs) if xs else None for xs in windows(values, a, b)]


@SETTINGS
@given(columns(STRINGS, pl.String, big=True))
def test_min_max_of_strings_compare_like_python(column: tuple) -> None:
    values, a, b = column
    for agg, pick in (("min", min), ("max", max)):
        assert kernel(agg, values, a, b) == [pick(xs) if xs else None for xs in windows(values, a, b)]


def test_min_max_block_level_on_long_ranges() -> None:
    """Ranges far longer than the span levels: the sparse table over blocks, at every alignment."""
    rng = np.random.default_rng(3)
    values = pl.Series(rng.normal(size=5000))
    starts = np.sort(rng.integers(0, 2500, 400))
    stops = np.sort(starts + rng.integers(128, 2500, 400))
    for agg, pick in (("min", np.min), ("max", np.max)):
        got = kernel(agg, values, starts, stops)
        want = [pick(values.to_numpy()[s:e]) for s, e in zip(starts, stops, strict=True)]
        assert got == want


@SETTINGS
@given(columns(FLOATS | st.sampled_from([math.inf, -math.inf]), pl.Float64))
def test_sum_and_mean_of_floats_are_exact(column: tuple) -> None:
    """Within 1e-9 of the exact sum (the bound the kernel proves or else re-sums), infinities as Python's sum."""
    values, a, b = column
    sums, means = kernel("sum", values, a, b), kernel("mean", values, a, b)
    for got, mean, xs in zip(sums, means, windows(values, a, b), strict=True):
        if xs:
            assert same_float(got, exact_sum(xs), rel=1e-9)
            assert same_float(mean, exact_sum(xs) / len(xs), rel=1e-9)


@SETTINGS
@given(columns(INTS, pl.Int64))
def test_sum_and_count_of_ints_are_exact(column: tuple) -> None:
    values, a, b = column
    spans = windows(values, a, b)
    assert kernel("sum", values, a, b) == [sum(xs) if xs else None for xs in spans]
    assert kernel("count", values, a, b) == [len(xs) for xs in spans]


@SETTINGS
@given(columns(FLOATS | st.sampled_from([math.inf]), pl.Float64))
def test_variance_and_std_within_1e6_of_exact(column: tuple) -> None:
    values, a, b = column
    variances, stds = kernel("var", values, a, b), kernel("std", values, a, b)
    for var, std, xs in zip(variances, stds, windows(values, a, b), strict=True):
        want = exact_variance(xs)
        if want == 0.0:  # no spread: what remains is rounding far below the values' scale
            assert var is not None and abs(var) <= 1e-20 * max(x * x for x in xs)
            continue
        assert same_float(var, want, rel=1e-6)
        assert same_float(std, None if want is None else math.sqrt(want), rel=1e-6)


@SETTINGS
@given(columns(INTS, pl.Int64))
def test_variance_of_ints(column: tuple) -> None:
    values, a, b = column
    for var, xs in zip(kernel("var", values, a, b), windows(values, a, b), strict=True):
        assert same_float(var, exact_variance([float(x) for x in xs]), rel=1e-6)


@pytest.mark.parametrize("offset", [0.0, 1e9, 1.7e15, -3e12])
def test_variance_after_adversarial_history(offset: float) -> None:
    """Tiny spread around a large offset after a history of huge values: still 1e-6 of the exact value."""
    rng = np.random.default_rng(int(abs(offset)) % 1000)
    history = rng.choice([-1.0, 1.0], 3000) * 10.0 ** rng.uniform(6, 15, 3000)
    recent = offset + rng.normal(0, 1e-3, 2000)
    values = pl.Series(np.concatenate([history, recent]))
    a = np.array([3000, 3500, 4000, 4990], dtype=np.int64)
    b = np.array([5000, 5000, 5000, 5000], dtype=np.int64)
    got = kernel("var", values, a, b)
    for value, start, stop in zip(got, a, b, strict=True):
        want = exact_variance(values.to_list()[start:stop])
        assert want is not None and math.isclose(value, want, rel_tol=1e-6)


@SETTINGS
@given(columns(FLOATS, pl.Float64) | columns(INTS, pl.Int64) | columns(STRINGS, pl.String))
def test_distinct_count(column: tuple) -> None:
    values, a, b = column
    assert kernel("distinct_count", values, a, b) == [len(set(xs)) for xs in windows(values, a, b)]


def test_distinct_count_reads_signed_zeros_as_one_value() -> None:
    values = pl.Series([0.0, -0.0, 1.0, -0.0, 0.0])
    a, b = np.array([0, 1, 2]), np.array([4, 5, 5])
    assert kernel("distinct_count", values, a, b) == [2, 2, 2]


@SETTINGS
@given(columns(FLOATS, pl.Float64) | columns(STRINGS, pl.String))
def test_first_last_last_n(column: tuple) -> None:
    values, a, b = column
    spans = windows(values, a, b)
    assert kernel("first", values, a, b) == [xs[0] if xs else None for xs in spans]
    assert kernel("last", values, a, b) == [xs[-1] if xs else None for xs in spans]
    assert kernel("last_n(3)", values, a, b) == [xs[-3:] for xs in spans]


def test_window_rejects_ranges_that_move_back() -> None:
    with pytest.raises(AssertionError, match="non-decreasing"):
        Window(np.array([2, 1]), np.array([3, 3]), "w")
    with pytest.raises(AssertionError, match="a <= b"):
        Window(np.array([2]), np.array([1]), "w")
