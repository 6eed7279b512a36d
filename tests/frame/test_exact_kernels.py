"""The translator's fast paths equal CPython bit for bit on adversarial values.

Float ``%`` and ``//`` take Polars arithmetic on the rows where it is provably exact and CPython's algorithm on
the others (``x % c == 0`` is an exact-multiple test); ``lower()``/``upper()`` take Polars on ASCII rows and
CPython on the others; comparisons of floats with small ints are done as floats, and int floor division by a
non-zero constant in Int64. Each is checked here against the interpreter itself: same bits (the sign of a zero
included), same NaNs, same exceptions.
"""

from __future__ import annotations

import math
import struct
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import polars as pl
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fdag._frame.translate import floats, translate, with_lets
from fdag._values.types import INT64_MAX, INT64_MIN, coerce_value, ftype_of

SPECIAL = [0.0, -0.0, 5e-324, -5e-324, 2.2250738585072014e-308, 1e-300, -1e-20, 0.5, -0.5, 1.0, -1.0,
           99.99999999999999, 100.0, -100.0, 2.0**50, 2.0**50 + 1, 2.0**51 - 0.5, 2.0**51, -(2.0**51), 2.0**52 + 1,
           2.0**53, 2.0**63, 1e300, -1e300, 1.7976931348623157e308, math.inf, -math.inf, math.nan]
DIVISORS = [100.0, -100.0, 1.0, -1.0, 3.0, 7.0, -3.0, 2.0**50, -(2.0**50), 2.0**50 + 2, 0.1, -3.5, 1e300, math.inf]


@st.composite
def near_multiples(draw: st.DrawFn) -> tuple[float, float]:
    """``(a, b)`` with ``a`` a few ulps from a multiple of an integer ``b``: where a rounded quotient is off by one."""
    b = draw(st.one_of(st.integers(-1000, 1000), st.sampled_from([2**50, -(2**50), 2**40 + 1, 3**30])).filter(bool))
    k = draw(st.one_of(st.integers(-1000, 1000), st.integers(-(2**51) // abs(b), 2**51 // abs(b))))
    a = float(k * b)
    for _ in range(draw(st.integers(0, 3))):
        a = math.nextafter(a, draw(st.sampled_from([math.inf, -math.inf])))
    return a, float(b)


PAIRS = st.one_of(
    near_multiples(),
    st.tuples(st.one_of(st.floats(), st.sampled_from(SPECIAL)), st.one_of(st.floats(), st.sampled_from(DIVISORS))),
    st.tuples(st.floats(-1e6, 1e6), st.integers(-300, 300).map(float)),
)


def _bits(value: float | None) -> object:
    if value is None or math.isnan(value):
        return value if value is None else "nan"
    return struct.pack("<d", value)


def _python(op: str, a: float, b: float) -> object:
    try:
        return _bits(a % b if op == "%" else a // b)
    except ZeroDivisionError:
        return "ZeroDivisionError"


def _chunked(frame: pl.DataFrame) -> pl.DataFrame:
    """The same rows in several chunks (a kernel may see one batch per chunk)."""
    half = frame.height // 2
    return pl.concat([frame.head(half), frame.slice(half)], rechunk=False)


@pytest.mark.parametrize("op", ["%", "//"])
@given(st.lists(PAIRS, min_size=1, max_size=30), st.sampled_from(DIVISORS))
@example([(0.0, 595.0), (-8925.0, 595.0)], 100.0)  # an exact quotient in a one-row chunk: was -14.0
@settings(max_examples=150, deadline=None, database=None)
def test_float_mod_and_floordiv_are_cpythons_bit_for_bit(op: str, pairs: list[tuple[float, float]],
                                                       divisor: float) -> None:
    kernel = floats.float_mod if op == "%" else floats.float_floordiv
    frame = _chunked(pl.DataFrame({"a": [a for a, _ in pairs], "b": [b for _, b in pairs]}, schema={
        "a": pl.Float64, "b": pl.Float64}))
    a, b = pl.col("a"), pl.col("b")
    got = frame.select(by_column=kernel(a, b, None), by_constant=kernel(a, pl.lit(divisor), divisor))
    for (x, y), by_column, by_constant in zip(pairs, got["by_column"], got["by_constant"], strict=True):
        expected = _python(op, x, y)
        assert expected == "ZeroDivisionError" or _bits(by_column) == expected, (x, y, by_column)
        assert _bits(by_constant) == _python(op, x, divisor), (x, divisor, by_constant)


@given(st.lists(PAIRS, min_size=1, max_size=30), st.sampled_from(DIVISORS))
@settings(max_examples=150, deadline=None, database=None)
def test_a_remainder_by_a_constant_compared_with_zero_is_cpythons(pairs: list[tuple[float, float]],
                                                                  divisor: float) -> None:
    # each pair's own divisor too: near_multiples() puts its dividend a few ulps from one of its multiples
    values = [a for a, _ in pairs]
    frame = _chunked(pl.DataFrame({"a": values}, schema={"a": pl.Float64}))
    for d in {divisor, *(b for _, b in pairs)}:
        expr = floats.float_mod_is_zero(pl.col("a"), d)
        if expr is None:
            assert not (d == d // 1 and 0 < abs(d) <= 2.0**50), d  # only the fast path's divisors are refused
            continue
        assert frame.select(expr)["a"].to_list() == [a % d == 0 for a in values], d


def test_python_runs_only_on_the_rows_outside_the_exact_range(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def counting(a: Any, b: Any) -> Any:
        seen.append(len(a))
        return real(a, b)

    real = floats.python_float_mod
    monkeypatch.setattr(floats, "python_float_mod", counting)
    expr = floats.float_mod(pl.col("a"), pl.lit(100.0), 100.0)
    assert pl.DataFrame({"a": [150.5, -0.25, None]}).select(expr)["a"].to_list() == [50.5, 99.75, None]
    assert seen == []
    assert pl.DataFrame({"a": [150.5, 1e300, math.inf, None]}).select(expr)["a"].to_list()[:2] == [50.5, 1e300 % 100]
    assert seen == [2]


def test_a_fractional_or_huge_constant_divisor_takes_cpythons_path_everywhere() -> None:
    values = [0.3, -0.7, 1e16 + 2, -(2.0**52) - 2]
    for divisor in (0.1, -3.5, 2.0**50 + 2):
        got = pl.DataFrame({"a": values}).select(floats.float_mod(pl.col("a"), pl.lit(divisor), divisor))["a"]
        assert [_bits(v) for v in got] == [_bits(v % divisor) for v in values]


# ---------------------------------------------------------------------------------------------- case mapping

# Code points whose case mapping differs between Rust's Unicode tables and CPython 3.11's (newer characters)
DIFFERENT = "\u1c89\ua7cb\u019b\u0264\U00010d50\U00010d70"
CASE_TEXT = st.one_of(
    st.none(),
    st.text(alphabet="abcXYZ -_09", max_size=6),
    st.text(alphabet="aZ \u03a3\u03c3\u03c2\u0130\u0131\u00df\u1e9e\u01c5\u0390\ufb00" + DIFFERENT, max_size=6),
    st.sampled_from(["ß", "İ", "İx", "ΑΣ", "\u0391\u03a3 \u0392", "Σ", "ΣΑ", "ǅ", "ﬀ", "ΐ", "K"]),
    st.text(max_size=6),
)


@pytest.mark.parametrize("method", ["lower", "upper"])
@given(st.lists(CASE_TEXT, min_size=1, max_size=30))
@settings(max_examples=100, deadline=None, database=None)
def test_case_mapping_mixes_polars_and_cpython_rows_exactly(method: str, texts: list[str | None]) -> None:
    func = _lower if method == "lower" else _upper
    translation = translate(func, {"s": ftype_of(str | None)}, ftype_of(str))
    frame = with_lets(_chunked(pl.DataFrame({"s": texts}, schema={"s": pl.String})), translation.lets)
    got = frame.select(translation.value)["s"].to_list()
    assert got == [None if t is None else getattr(t, method)() for t in texts]


def test_those_code_points_do_differ_between_polars_and_cpython() -> None:
    # what makes the test above able to fail: Polars alone would map these differently
    series = pl.Series(list(DIFFERENT))
    assert series.str.to_lowercase().to_list() != [c.lower() for c in DIFFERENT]
    assert series.str.to_uppercase().to_list() != [c.upper() for c in DIFFERENT]


def _lower(s: str | None) -> str:
    return s.lower()  # type: ignore[union-attr]


def _upper(s: str | None) -> str:
    return s.upper()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------------------------- comparisons, ints


def float_vs_small_ints(x: float, y: float) -> int:
    nan_or_x = x * 0.0 + x  # NaN where x is infinite
    return ((x < 10) + 2 * (x >= -3) + 4 * (x == 0) + 8 * (nan_or_x <= 100) + 16 * (nan_or_x != 7)
            + 32 * (x < 9007199254740993) + 64 * (y >= -9007199254740992) + 128 * (x % 100 == 0) + 256 * (y > True)
            + 512 * (nan_or_x > 10) + 1024 * (nan_or_x >= -5))  # Polars orders NaN above every number


def multiples(x: float, y: float) -> int:
    nan_or_x = x * 0.0 + x  # NaN where x is infinite
    return ((x % 100 == 0) + 2 * (0 == y % 7) + 4 * (x % -3.0 != 0) + 8 * (nan_or_x % 1 == 0.0)  # noqa: SIM300
            + 16 * (y % 2**50 == -0.0) + 32 * (x % 0.1 == 0) + 64 * (x % 100 == y))


def int_floor_by_constants(a: int, b: int) -> int:
    return a // 7 + a % 7 - a % -3 + (a // -1) // 2**40 + (a < b) - (a // 7 >= b) + (b // 3 < 2)


def rounded_and_returned(x: float, y: float) -> int:
    return round(x * 0.0 + x)  # NaN where x is infinite: a ValueError, as in Python


def rounded_or_none(x: float, y: float) -> int | None:
    return math.floor(x) if y > 0 else None


def rounded_then_computed(x: float, y: float) -> int:
    # the int goes beyond int64 before it is reduced (the translation keeps such ints below 2**120)
    return math.ceil(x) // 2**70 + int(y) % 7 if abs(x) < 1e36 > abs(y) else 0


def by_seven(a: int) -> int:
    return a // 7 - a % 7


def quarter(a: int, x: float) -> float:
    return a / 4 + x / 2.5 + x % 100 - x // -3


EDGE_FLOATS = st.one_of(st.floats(allow_nan=False), st.sampled_from([v for v in SPECIAL if v == v]),
                        st.integers(-20, 20).map(float),
                        st.sampled_from([2.0**53, 2.0**53 + 2, -(2.0**53), 9.3e18, 2.0**63 - 1024, -(2.0**63), 2.0**63,
                                         2.0**120, -(2.0**120), 2.0**125, 2.5, -2.5, 0.5]))
EDGE_INTS = st.one_of(st.integers(INT64_MIN, INT64_MAX), st.integers(-50, 50),
                      st.sampled_from([INT64_MIN, INT64_MAX, INT64_MIN + 1, 2**53, 2**53 + 1, -(2**53) - 1]))


def _signature(func: Callable[..., Any]) -> tuple[dict[str, Any], Any]:
    hints = typing.get_type_hints(func)
    returns = ftype_of(hints.pop("return"))
    return {name: ftype_of(h) for name, h in hints.items()}, returns


def _agrees(func: Callable[..., Any], rows: list[dict[str, Any]]) -> None:
    """Translated and called: the same value bit for bit, or the same exception type (the first that holds)."""
    params, returns = _signature(func)
    translation = translate(func, params, returns)
    frame = pl.DataFrame({p: [r[p] for r in rows] for p in params}, schema={p: t.polars for p, t in params.items()})
    chain: Any = pl
    for condition, kind, _ in translation.errors:
        chain = chain.when(condition).then(pl.lit(kind))
    error = chain.otherwise(pl.lit(None, pl.String)) if translation.errors else pl.lit(None, pl.String)
    out = with_lets(frame, translation.lets).select(value=translation.value.cast(returns.polars), error=error)
    for row, value, kind in zip(rows, out["value"], out["error"], strict=True):
        try:
            expected: Any = coerce_value(func(**row), returns)  # as the engines return it: int64, NaN as null
        except Exception as exc:
            assert kind == type(exc).__name__, (row, kind, exc)
            continue
        assert kind is None, (row, kind)
        got = None if isinstance(value, float) and value != value else value
        assert (_bits(got) == _bits(expected)) if isinstance(expected, float) else got == expected, (row, got)


def clock(t: datetime) -> int:
    return t.hour + 24 * (t.minute + 60 * (t.second + 60 * (t.weekday() + 7 * t.isoweekday()))) + 10**9 * t.microsecond


def day_of(d: date, t: datetime) -> int:
    return d.weekday() + 10 * d.isoweekday() + 100 * t.date().weekday()


def test_time_of_day_and_weekday_are_cpythons() -> None:
    # integer arithmetic on the microseconds since 1970, floored: instants before it and at the ends of the range
    instants = st.one_of(st.datetimes(timezones=st.just(UTC)), st.sampled_from([
        datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC), datetime(1970, 1, 1, tzinfo=UTC),
        datetime(1600, 2, 29, 12, 0, 0, 1, tzinfo=UTC)]))

    @settings(max_examples=80, deadline=None, database=None)
    @given(st.lists(st.fixed_dictionaries({"t": instants, "d": st.dates()}), min_size=1, max_size=25))
    def agree(batch: list[dict[str, Any]]) -> None:
        _agrees(clock, [{"t": r["t"]} for r in batch])
        _agrees(day_of, batch)

    agree()


@pytest.mark.parametrize("func", [float_vs_small_ints, multiples, int_floor_by_constants, rounded_and_returned,
                                  rounded_or_none, rounded_then_computed],
                         ids=lambda f: f.__name__)
def test_comparisons_and_int_floor_ops_by_constants_are_cpythons(func: Callable[..., Any]) -> None:
    params, _ = _signature(func)
    values = {"x": EDGE_FLOATS, "y": EDGE_FLOATS, "a": EDGE_INTS, "b": EDGE_INTS}
    rows = st.lists(st.fixed_dictionaries({p: values[p] for p in params}), min_size=1, max_size=25)

    @settings(max_examples=80, deadline=None, database=None)
    @given(rows)
    def agree(batch: list[dict[str, Any]]) -> None:
        _agrees(func, batch)

    agree()


def test_division_by_a_non_zero_constant_has_no_error_condition_and_stays_in_int64() -> None:
    for func in (by_seven, quarter):
        params, returns = _signature(func)
        translation = translate(func, params, returns)
        assert translation.errors == ()
        assert "Int128" not in str(translation.value)
    params, returns = _signature(int_floor_by_constants)
    assert "Int128" in str(translate(int_floor_by_constants, params, returns).value)  # INT64_MIN // -1 needs it
