"""The Python-to-Polars translation: translated features agree with calling the function row by row.

Every example function below is translated, evaluated over generated rows the way the Polars engine wraps it
(null for null required arguments, null where an error condition holds), and compared with plain Python:
same values (floats to 1e-9), same nulls, and the same exception type where Python raises.
"""

from __future__ import annotations

import math
import math as m
import typing
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from math import sqrt as root
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fdag._frame.translate import translate, with_lets
from fdag._frame.translate.methods import PY_WHITESPACE
from fdag._values.types import INT64_MAX, INT64_MIN, FType, coerce_value, ftype_of
from fdag.errors import NotTranslatable

LIMIT = 10
SCALE = 2.5
NAMES = ("alice", "bob")

# ---------------------------------------------------------------------------------------------- example features


def add(a: int, b: int) -> int:
    return a + b


def sub_mul(a: int, b: int) -> int:
    return a * b - a


def floordiv_mod(a: int, b: int) -> int:
    return a // b + a % b


def true_div(a: int, b: int) -> float:
    return a / b


def neg_abs(a: int) -> int:
    return -a + abs(a) - ~a


def chained_sum(a: int, b: int, c: int) -> int:
    return a + b + c - (a - c)


def powers(a: int, x: float) -> float:
    return a**2 + a**-1 + x**2 - x**-3 + 2**10


def mixed(a: int, x: float) -> float:
    return a * x + a / 3 - x + a


def floats(x: float, y: float) -> float:
    return (x + y) * (x - y) / y


def bool_arith(p: bool, a: int) -> int:
    return p + a * True - (p * 3)


def augmented(a: int, b: int) -> int:
    total = a
    total += 1
    total *= 2
    total -= b
    total //= 3
    return total


def cmp_int_float(a: int, x: float) -> int:
    return (a < x) + 2 * (a <= x) + 4 * (a == x) + 8 * (a > x) + 16 * (a >= x) + 32 * (a != x) + 64 * (x < a)


def cmp_nan(x: float, y: float) -> int:
    z = x * y
    return (z < 1.0) + 2 * (z <= y) + 4 * (z == z) + 8 * (z > x) + 16 * (z >= 0) + 32 * (z != z)


def cmp_chain(a: int, b: int, c: int) -> bool:
    return a < b <= c != a


def cmp_optional(x: float | None, a: int) -> int:
    return (x == a) + 2 * (x != 3.0) + 4 * (x is None) + 8 * (x is not None) + 16 * (a > 0)


def cmp_optional_order(x: float | None) -> bool:
    return x < 3


def in_constants(a: int, s: str, x: float) -> int:
    return (a in (1, 2, 3)) + 2 * (s in ("a", "", "bob")) + 4 * (x not in {0, 2.5}) + 8 * (s in NAMES)


def in_substring(s: str, t: str | None) -> bool:
    return (t is not None and t in s) or s in "abcdef"


def str_compare(s: str, t: str) -> int:
    return (s < t) + 2 * (s == t) + 4 * (s >= t)


def or_default(x: float | None) -> float:
    return x or 0


def and_value(a: int, b: int) -> int:
    return a and b


def or_str(s: str | None, t: str) -> str:
    return s or t or "empty"


def short_circuit(a: int, b: int) -> bool:
    return (b != 0 and a // b > 1) or not a


def guarded_optional(x: float | None) -> bool:
    return x is not None and x > 3


def ratio(amount: float, mean: float | None) -> float | None:
    """The fraud example's ratio: None when the mean is missing or zero."""
    if not mean:
        return None
    return amount / mean


def branches(a: int, x: float) -> float:
    if a > LIMIT:
        y = x * 2
        if x < 0:
            return -y
        elif x == 0:
            y = 1.0
        else:
            y += 1
    else:
        y = x - a
    z = y + 1
    if z > 100:
        return 100.0
    return z


def early_return(a: int, b: int) -> float | None:
    if b == 0:
        return None
    q = a / b
    if q > 1:
        return q * 2
    return q + a


def ternary(x: float, a: int) -> float:
    return x / a if a != 0 else (x if x > 0 else -x)


def implicit_none(a: int) -> int | None:
    if a > 0:
        return a
    pass


def raises(a: int) -> int:
    if a < 0:
        raise ValueError("negative")
    return a // 2


def max_mixed(a: int, x: float) -> float:
    return max(a, x)


def min_ints(a: int, b: int) -> int:
    return min(a, b, -5) - max(b, a)


def max_floats(x: float, y: float) -> float:
    return max(x, 0) * 2 - min(x * y, y, 1.5)


def min_optional(x: float | None, y: float) -> float:
    return min(x, 3.0) + max(y, y * 0)


def conversions(x: float, a: int, p: bool) -> int:
    return round(x) + int(x) - int(a) + int(p) + len(str(a)) + round(p)


def to_float(a: int, p: bool) -> float:
    return float(a) + float(p)


def truthiness(s: str, x: float, a: int, xs: list[int]) -> int:
    return bool(s) + 2 * bool(x) + 4 * bool(a) + 8 * bool(xs) + 16 * (not s)


def lengths(s: str, xs: list[int]) -> int:
    return len(s) * 1000 + len(xs)


def str_of(a: int, p: bool, s: str | None) -> str:
    return str(a) + str(p) + str(s)


def str_of_optional(a: int | None, flag: bool | None, s: str | None) -> str:
    return str(a) + "|" + str(flag) + "|" + str(s) + "|" + str(None) + "|" + str(a is None)


def str_of_float(x: float, y: float | None) -> str:
    return str(x) + "|" + str(y) + "|" + str(1e-05) + "|" + str(-0.0)


def math_basic(x: float) -> float:
    return math.sqrt(x) + math.log(x) + math.log2(x) + m.log10(x) + root(x)


def math_log_base(x: float, y: float) -> float:
    return math.log(x, y)


def math_log1p_exp(x: float) -> float:
    return math.log1p(x) + math.exp(x) + math.fabs(x)


def math_trig(x: float) -> float:
    return math.sin(x) + math.cos(x) * math.tan(x) + math.pi


def math_rounding(x: float) -> int:
    return math.floor(x) - math.ceil(x) + math.trunc(x) * 2 + math.floor(LIMIT) + math.ceil(True)


def math_predicates(x: float, y: float) -> int:
    z = x * y
    return math.isfinite(z) + 2 * math.isinf(z) + 4 * math.isnan(z)


def math_pow(x: float, y: float) -> float:
    return math.pow(x, y)


def math_hypot_copysign(x: float, y: float) -> float:
    return math.hypot(x, y) + math.copysign(x, y) + math.copysign(1, x)


def math_optional(x: float | None) -> float:
    return math.sqrt(x)


def str_case(s: str) -> str:
    return s.lower() + "|" + s.upper()


def str_strip(s: str) -> str:
    return s.strip() + "|" + s.lstrip() + "|" + s.rstrip("ab ") + "|" + s.strip("") + "|" + s.strip(None)


def str_affix(s: str, t: str) -> int:
    return s.startswith(t) + 2 * s.endswith("a") + 4 * s.startswith("")


def str_replace(s: str) -> str:
    return s.replace("a", "xy").replace("Σ", "") + s + "!"


def str_optional(s: str | None) -> str | None:
    return s.upper()


def datetime_parts(t: datetime) -> int:
    return t.year * 10**10 + t.month * 10**8 + t.day * 10**6 + t.hour * 10**4 + t.minute * 100 + t.second


def datetime_more(t: datetime, d: date) -> int:
    return t.microsecond + t.weekday() * 10**7 + t.isoweekday() * 10**8 + d.weekday() + d.isoweekday() * 10


def datetime_date(t: datetime, d: date) -> bool:
    return t.date() < d or t.date() == d


def timestamps(t: datetime, u: datetime) -> float:
    return t.timestamp() + (t - u).total_seconds()


def timedelta_parts(t: datetime, u: datetime, delta: timedelta) -> int:
    span = t - u
    return span.days * 10**12 + span.seconds * 10**6 + span.microseconds + delta.days - delta.seconds


def datetime_shift(t: datetime, delta: timedelta) -> datetime:
    return t - delta + delta


def timedelta_truth(delta: timedelta, x: float | None) -> float:
    if not delta:
        return -1.0
    if x is None:
        return 0.0
    return x * 2 + (x if x is not None else 1.0)


def narrowing(x: int | None, y: int | None) -> int:
    z = x if x is not None else 0
    if y is not None and y > z:
        z = y
    return z + 1


def scoring(x: int, y: float) -> int:
    score = 0
    if x > 1:
        score += 1
    if y < 2.5:
        score += 2
    if x > y:
        score *= 3
    else:
        score -= x
    return score


def date_compare(d: date, e: date) -> int:
    return (d < e) + 2 * (d - e).days


def list_len(xs: list[str] | None) -> int:
    if not xs:
        return -1
    return len(xs)


def make_closure() -> Callable[[int], int]:
    offset = 7

    def shifted(a: int) -> int:
        return a // offset + LIMIT

    return shifted


closure_case = make_closure()

def float_mod(x: float, y: float) -> float:
    return x % 2.0 + x % y - y % -3.5


def float_floordiv(x: float, y: float) -> float:
    return x // y + (-x) // 0.1


TRANSLATED: list[Callable[..., Any]] = [
    float_mod, float_floordiv,
    add, sub_mul, floordiv_mod, true_div, neg_abs, chained_sum, powers, mixed, floats, bool_arith, augmented,
    cmp_int_float, cmp_nan, cmp_chain, cmp_optional, cmp_optional_order, in_constants, in_substring, str_compare,
    or_default, and_value, or_str, short_circuit, guarded_optional, ratio, branches, early_return, ternary,
    implicit_none, raises, max_mixed, min_ints, max_floats, min_optional, conversions, to_float, truthiness, lengths,
    str_of, math_basic, math_log_base, math_log1p_exp, math_trig, math_rounding, math_predicates, math_pow,
    math_hypot_copysign, math_optional, str_case, str_strip, str_affix, str_replace, str_optional, datetime_parts,
    datetime_more, datetime_date, timestamps, timedelta_parts, datetime_shift, timedelta_truth, narrowing,
    scoring, date_compare, list_len, closure_case, str_of_optional, str_of_float,
]

# ---------------------------------------------------------------------------------------------- generated rows

EDGE_INTS = [0, 1, -1, 2, -2, 3, 7, LIMIT, INT64_MIN, INT64_MAX, INT64_MIN + 1, INT64_MAX - 1, 2**53 + 1, 2**62]
EDGE_FLOATS = [0.0, -0.0, 0.5, 1.5, 2.5, -2.5, 1.0, -1.0, 3.0, math.inf, -math.inf, 5e-324, 1.7976931348623157e308,
               2.0**63, -(2.0**63), 2.0**53 + 2, 9.3e18, 709.8, 1e-300, 1e300, math.pi / 2, 0.49999999999999994,
               4503599627370497.0, 2.0**120, -(2.0**120), 1e38, -1.0, 1e-16]
INTS = st.one_of(st.integers(INT64_MIN, INT64_MAX), st.sampled_from(EDGE_INTS), st.integers(-300, 300))
FLOATS = st.one_of(st.floats(allow_nan=False), st.sampled_from(EDGE_FLOATS), st.floats(-1000, 1000),
                   st.integers(-10, 10).map(float))
TRICKY_CHARS = "ab\u03a3\u03c3\u03c2 A\u0130\u00df\u01c5\u0390"  # sigmas, dotted I, sharp s, titlecase
TEXT = st.one_of(st.text(max_size=8), st.text(alphabet=PY_WHITESPACE + TRICKY_CHARS, max_size=8),
                 st.sampled_from(["", "a", "bob", "abc", "ΑΣ", "ΣΑ", "a Σ b"]))
DATETIMES = st.datetimes(datetime(1970, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC))
DATES = st.dates(date(1970, 1, 1), date(2100, 1, 1))
TIMEDELTAS = st.timedeltas(timedelta(days=-10**5), timedelta(days=10**5))
BASE: dict[type, st.SearchStrategy[Any]] = {
    int: INTS, float: FLOATS, bool: st.booleans(), str: TEXT, datetime: DATETIMES, date: DATES,
    timedelta: TIMEDELTAS,
}


def _strategy(ftype: FType) -> st.SearchStrategy[Any]:
    if ftype.base is list:
        assert ftype.item is not None
        values = st.lists(_strategy(ftype.item), max_size=3)
    else:
        values = BASE[ftype.base]
    return st.one_of(st.none(), values) if ftype.optional else values


def _signature(func: Callable[..., Any]) -> tuple[dict[str, FType], FType]:
    hints = typing.get_type_hints(func)
    returns = ftype_of(hints.pop("return"))
    return {name: ftype_of(h) for name, h in hints.items()}, returns


def run_translated(func: Callable[..., Any], rows: list[dict[str, Any]]) -> list[tuple[Any, str | None]]:
    """``(value, error type)`` per row, wrapped the way the Polars engine wraps a translation."""
    params, returns = _signature(func)
    translation = translate(func, params, returns)
    frame = pl.DataFrame({p: pl.Series(p, [r[p] for r in rows], dtype=t.polars) for p, t in params.items()})
    required = [pl.col(p).is_null() for p, t in params.items() if not t.optional]
    skipped = pl.any_horizontal(required) if required else pl.lit(False)
    chain: Any = pl
    for cond, kind, _ in translation.errors:
        chain = chain.when(cond).then(pl.lit(kind))
    error = pl.when(skipped).then(None).otherwise(
        chain.otherwise(pl.lit(None, pl.String)) if translation.errors else pl.lit(None, pl.String))
    value = translation.value.cast(returns.polars)
    if returns.base is float:
        value = value.fill_nan(None)
    value = pl.when(skipped | error.is_not_null()).then(None).otherwise(value)
    out = with_lets(frame, translation.lets).select(value.alias("value"), error.alias("error"))
    return list(zip(out["value"].to_list(), out["error"].to_list(), strict=True))


def run_python(func: Callable[..., Any], row: dict[str, Any]) -> tuple[Any, str | None]:
    """The reference: call the function; an exception (or an inadmissible return) is null plus its type."""
    params, returns = _signature(func)
    if any(row[p] is None for p, t in params.items() if not t.optional):
        return None, None
    try:
        return coerce_value(func(**row), returns), None
    except Exception as exc:
        return None, type(exc).__name__


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or a == b
    return type(a) is type(b) and a == b


def assert_agrees(func: Callable[..., Any], rows: list[dict[str, Any]]) -> None:
    """The translated function and plain Python give the same value or the same exception type on every row."""
    for row, got in zip(rows, run_translated(func, rows), strict=True):
        expected = run_python(func, row)
        assert got[1] == expected[1] and _same(got[0], expected[0]), f"{func.__name__}{row}: {got} != {expected}"


@pytest.mark.parametrize("func", TRANSLATED, ids=lambda f: f.__name__)
def test_translation_agrees_with_python(func: Callable[..., Any]) -> None:
    params, _ = _signature(func)
    rows = st.lists(st.fixed_dictionaries({p: _strategy(t) for p, t in params.items()}), min_size=1, max_size=25)

    @settings(max_examples=40, deadline=None, database=None)
    @given(rows)
    def agree(batch: list[dict[str, Any]]) -> None:
        assert_agrees(func, batch)

    agree()


def test_null_required_arguments_are_skipped_not_errors() -> None:
    assert run_translated(add, [{"a": None, "b": 0}, {"a": 1, "b": None}]) == [(None, None), (None, None)]


def test_int64_overflow_is_an_error_exactly_at_the_boundary() -> None:
    rows = [{"a": INT64_MAX, "b": 0}, {"a": INT64_MAX, "b": 1}, {"a": INT64_MIN, "b": -1}, {"a": -1, "b": INT64_MIN}]
    assert run_translated(add, rows) == [(INT64_MAX, None), (None, "OverflowError"), (None, "OverflowError"),
                                         (None, "OverflowError")]


def test_datetime_arithmetic_outside_python_range_is_an_overflow() -> None:
    late = datetime(9999, 12, 31, 23, tzinfo=UTC)
    rows = [{"t": late, "delta": timedelta(hours=-1)}, {"t": late, "delta": timedelta(hours=1)}]
    assert run_translated(datetime_shift, rows) == [(None, "OverflowError"), (late, None)]


# A float computed inside a function can be NaN though no input is (inf - inf): every rule reading it must do what
# CPython does (math.asin(nan) is nan, math.floor(nan) a ValueError, nan > 0 false, ...).
def nan_asin(x: float, y: float) -> float:
    z = x - y
    return math.asin(z) + math.acos(z) + math.atan(z)


def nan_sqrt_logs(x: float, y: float) -> float:
    z = x - y
    return math.sqrt(z) + math.log(z) + math.log(z, 2) + math.log(2.0, z) + math.log1p(z)


def nan_exp_trig(x: float, y: float) -> float:
    z = x - y
    return math.exp(z) + math.sin(z) + math.cos(z) + math.tan(z) + math.degrees(z) + math.fabs(z)


def nan_floor(x: float, y: float) -> int:
    z = x - y
    return math.floor(z)


def nan_ceil(x: float, y: float) -> int:
    z = x - y
    return math.ceil(z)


def nan_trunc(x: float, y: float) -> int:
    z = x - y
    return math.trunc(z)


def nan_int(x: float, y: float) -> int:
    z = x - y
    return int(z)


def nan_round(x: float, y: float) -> int:
    z = x - y
    return round(z)


def nan_compare(x: float, y: float) -> int:
    z = x - y
    return (z > 0) + 2 * (z != z) + 4 * (z <= 1.0 or z >= 1.0) + 8 * (z in (1.0, 2.0)) + 16 * bool(z)


def nan_extremes(x: float, y: float) -> float:
    z = x - y
    return max(z, 1.0) + min(1.0, z) + abs(z)


def nan_remainders(x: float, y: float) -> float:
    z = x - y
    return z % 2.0 + 2.0 % z + z // 2.0


def nan_powers(x: float, y: float) -> float:
    z = x - y
    return 1.0 / z + z**2 + math.pow(z, 0.0) + math.hypot(z, math.inf)


def nan_predicates(x: float, y: float) -> int:
    z = x - y
    return math.isnan(z) + 2 * math.isinf(z) + 4 * math.isfinite(z) + (8 if z else 0)


NAN_FUNCTIONS = [
    nan_asin, nan_sqrt_logs, nan_exp_trig, nan_floor, nan_ceil, nan_trunc, nan_int,
    nan_round, nan_compare, nan_extremes, nan_remainders, nan_powers, nan_predicates,
]


@pytest.mark.parametrize("func", NAN_FUNCTIONS, ids=lambda f: f.__name__)
def test_a_nan_computed_from_inputs_is_read_as_cpython_reads_it(func: Callable[..., Any]) -> None:
    pairs = [(math.inf, math.inf), (-math.inf, -math.inf), (0.5, 0.25), (3.0, 1.0), (math.inf, 1.0), (0.0, 0.0),
             (-3.0, 0.0)]
    assert_agrees(func, [{"x": x, "y": y} for x, y in pairs])


def test_zero_division_messages_are_cpythons() -> None:
    params, returns = _signature(floordiv_mod)
    messages = {message for _, _, message in translate(floordiv_mod, params, returns).errors}
    assert messages >= {"integer division or modulo by zero", "integer modulo by zero"}


def test_case_mapping_is_cpythons_for_every_code_point() -> None:
    text = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF] + ["ΑΣ", "Σ", "ΣΑ ΣΑΣ.", "İx", "ß"]
    frame = pl.DataFrame({"s": text})
    for method in ("lower", "upper"):
        params, returns = {"s": FType(str)}, FType(str)
        func = {"lower": lambda_lower, "upper": lambda_upper}[method]
        got = frame.select(translate(func, params, returns).value)["s"].to_list()
        assert got == [getattr(t, method)() for t in text], method


def lambda_lower(s: str) -> str:
    return s.lower()


def lambda_upper(s: str) -> str:
    return s.upper()


def test_python_whitespace_is_what_strip_removes() -> None:
    assert "".join(c for c in map(chr, range(0x110000)) if c.isspace()) == PY_WHITESPACE


@given(st.lists(st.text(), min_size=1, max_size=20))
@settings(max_examples=60, deadline=None, database=None)
def test_case_mapping_matches_cpython_on_any_unicode(texts: list[str]) -> None:
    assert_agrees(str_case, [{"s": t} for t in texts])


# ---------------------------------------------------------------------------------------------- refusals


def loop(a: int) -> int:
    total = 0
    for i in range(a):
        total += i
    return total


def guarded(a: int) -> int:
    try:
        return 1 // a
    except ZeroDivisionError:
        return 0


def formatted(a: int) -> str:
    return f"{a}"


def rounded(x: float) -> float:
    return round(x, 2)


def public_helper(a: int) -> int:
    return a


def calls_helper(a: int) -> int:
    return public_helper(a)  # neither _private nor @fdag.exclude: not inlined


def nested(a: int) -> int:
    def inner() -> int:
        return a

    return inner()


def comprehension(xs: list[int]) -> int:
    return len([x for x in xs if x])


def walrus(a: int) -> int:
    return (b := a) + b


def variable_power(a: int, b: int) -> int:
    return a**b


def fractional_power(x: float) -> float:
    return x**0.5


def cube(a: int) -> int:
    return a * a * a


def titled(s: str) -> str:
    return s.title()


def folded(s: str) -> str:
    return s.casefold()


def datetime_text(t: datetime) -> str:
    return str(t)


def quotient_text(x: float) -> str:
    return str(x / 7)


def unpacked(a: int) -> int:
    b, *c = a, a  # starred unpacking (a plain `b, c = x, y` is translated)
    return b + len(c)


def empty_replace(s: str) -> str:
    return s.replace("", "-")


def wrong_type(x: float) -> int:
    return x * 2


def maybe_unbound(a: int) -> int:
    if a > 0:
        b = a
    return b


def int_or_str(a: int) -> int:
    b = a if a > 0 else "x"
    return b


def subscript(xs: list[int]) -> int:
    return xs[0]


def subtract_to_self(a: int) -> int:
    a -= a.real
    return a


def global_statement(a: int) -> int:
    global LIMIT
    return LIMIT


def rule_cascade(x: int) -> int:
    score = 0
    if x > 1:
        score += 1
    if x > 2:
        score += 2
    if x > 3:
        score += 3
    if x > 4:
        score += 4
    if x > 5:
        score += 5
    if x > 6:
        score += 6
    if x > 7:
        score += 7
    if x > 8:
        score += 8
    if x > 9:
        score += 9
    return score


def with_list_in(a: int, xs: list[int]) -> bool:
    return a in xs


REFUSED: list[tuple[Callable[..., Any], str]] = [
    (loop, r"^loop$"),
    (guarded, r"^try statement$"),
    (formatted, r"^f-string formatting$"),
    (rounded, r"^round\(\) with ndigits \(Python rounds the float's exact value\)$"),
    (calls_helper, r"^calls 'public_helper' \(not a known pure function\)$"),
    (nested, r"^nested function$"),
    (comprehension, r"^comprehension$"),
    (walrus, r"^assignment expression \(:=\)$"),
    (variable_power, r"^int \*\* int with an exponent that is not a constant$"),
    (fractional_power, r"Python returns a complex for a negative base"),
    (cube, r"^integer arithmetic that may exceed 128 bits$"),
    (titled, r"^method 'str.title\(\)' \(not translated\)$"),
    (folded, r"^method 'str.casefold\(\)' \(not translated\)$"),
    (datetime_text, r"^str\(\) of a datetime"),
    (quotient_text, r"^str\(\) of a computed float"),
    (unpacked, r"^assignment to something other than a simple name"),
    (empty_replace, r"^'.replace\(\)' of the empty string"),
    (wrong_type, r"^returns a float where 'int' is declared$"),
    (maybe_unbound, r"^'b' may be used before it is assigned$"),
    (int_or_str, r"^a value that is a int or a str depending on the row$"),
    (subscript, r"^subscript$"),
    (subtract_to_self, r"^attribute 'int.real' \(not translated\)$"),
    (global_statement, r"^global statement$"),
    (with_list_in, r"^'in' between int and list$"),
    (rule_cascade, r"^the translation would be too large \(e\.g\. many sequential ifs reassigning a variable\)$"),
    (lambda a: a, r"^lambda$"),
]


def float_text(x: float) -> str:
    return str(x)


FLOAT_TEXT_EDGES = [0.0, -0.0, 1e16, 1e15, 9999999999999998.0, 1e-4, 1e-5, 0.0001234, 0.1, 1.0, 5e-324, 1e22, 1e-7,
                    1.7976931348623157e308, math.inf, -math.inf, math.nan, 123456789.125, 2.0**63, -1.5e-300, 1e100]


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.one_of(st.floats(), st.floats(-1e-3, 1e-3), st.floats(1e14, 1e18),
                          st.sampled_from(FLOAT_TEXT_EDGES)), min_size=1, max_size=40))
def test_str_of_a_float_is_pythons_repr(values: list[float]) -> None:
    got = [value for value, _ in run_translated(float_text, [{"x": v} for v in values])]
    assert got == [repr(v) for v in values]


@pytest.mark.parametrize(("func", "reason"), REFUSED, ids=lambda v: getattr(v, "__name__", "reason"))
def test_untranslatable_constructs_are_refused_with_a_reason(func: Callable[..., Any], reason: str) -> None:
    params, returns = ({"a": FType(int)}, FType(int)) if func.__name__ == "<lambda>" else _signature(func)
    with pytest.raises(NotTranslatable, match=reason):
        translate(func, params, returns)
