"""Behaviour every engine must show, run once per engine: exact values, nulls and errors as the per-row rules say."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

import fdag
from tests.resources import semantics

UTC = UTC
DAG = fdag.Dag.from_modules(semantics)
NOON = datetime(2024, 3, 9, 12, 30, 15, 250, tzinfo=UTC)  # a Saturday


def one(engine, outputs: list[str], **request):  # type: ignore[no-untyped-def]
    return engine(DAG, outputs, [{**request, "as_of": request.pop("as_of", NOON)}])[0]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(7, 2, (3.5, 3, 1)), (-7, 2, (-3.5, -4, 1)), (7, -2, (-3.5, -4, -1)), (-7, -2, (3.5, 3, -1)), (0, 5, (0.0, 0, 0))],
)
def test_int_division_floors_like_python(engine, a: int, b: int, expected: tuple[float, int, int]) -> None:  # type: ignore[no-untyped-def]
    out = one(engine, ["true_div", "floor_div", "modulo"], a=a, b=b)
    assert (out["true_div"], out["floor_div"], out["modulo"]) == expected


def test_division_by_zero_is_null_not_inf(engine) -> None:  # type: ignore[no-untyped-def]
    out = one(engine, ["true_div", "floor_div", "modulo", "safe_div"], a=1, b=0)
    assert out == {"true_div": None, "floor_div": None, "modulo": None, "safe_div": None}


def test_null_input_skips_the_function_and_optional_params_receive_none(engine) -> None:  # type: ignore[no-untyped-def]
    out = one(engine, ["true_div", "describe"], a=None, b=2)
    assert out == {"true_div": None, "describe": "missing"}


def test_conditionals_and_boolean_values(engine) -> None:  # type: ignore[no-untyped-def]
    assert one(engine, ["bucket", "either"], a=5, b=0) == {"bucket": "small", "either": 5}
    assert one(engine, ["bucket", "either"], a=500, b=7) == {"bucket": "large", "either": 500}
    assert one(engine, ["bucket", "either"], a=0, b=7) == {"bucket": "zero", "either": 7}
    assert one(engine, ["bucket", "either"], a=-3, b=0) == {"bucket": "negative", "either": -3}


def test_rounding_is_half_to_even(engine) -> None:  # type: ignore[no-untyped-def]
    got = [one(engine, ["rounded"], x=x)["rounded"] for x in (0.5, 1.5, 2.5, -0.5, -1.5, 2.675)]
    assert got == [0, 2, 2, 0, -2, 3]


def test_math_domain_errors_are_null(engine) -> None:  # type: ignore[no-untyped-def]
    assert one(engine, ["root", "log_x"], x=-1.0) == {"root": None, "log_x": None}
    out = one(engine, ["root", "log_x"], x=4.0)
    assert out["root"] == 2.0 and math.isclose(out["log_x"], math.log(4.0))


def test_strings(engine) -> None:  # type: ignore[no-untyped-def]
    out = one(engine, ["clean", "shout", "n_chars", "has_at"], s="  Straße@X ")
    assert out == {"clean": "straße@x", "shout": "  STRASSE@X ", "n_chars": 11, "has_at": True}


def test_datetime_attributes_in_utc(engine) -> None:  # type: ignore[no-untyped-def]
    out = one(engine, ["hour", "weekday", "minute_of_day"], as_of=datetime(2024, 3, 9, 23, 59, tzinfo=UTC))
    assert out == {"hour": 23, "weekday": 5, "minute_of_day": 1439}


def test_naive_as_of_is_read_as_utc(engine) -> None:  # type: ignore[no-untyped-def]
    assert one(engine, ["hour"], as_of=datetime(2024, 3, 9, 7, 0))["hour"] == 7


def test_min_max_abs(engine) -> None:  # type: ignore[no-untyped-def]
    assert one(engine, ["clamped", "distance"], a=-20, b=3) == {"clamped": -10, "distance": 23}
    assert one(engine, ["clamped", "distance"], a=20, b=3) == {"clamped": 10, "distance": 17}


def test_int_overflow_is_an_error_not_a_wrapped_value(engine) -> None:  # type: ignore[no-untyped-def]
    assert one(engine, ["product"], a=2**62, b=4)["product"] is None
    assert one(engine, ["product"], a=2**31, b=2**31)["product"] == 2**62


def test_untranslatable_code_still_gives_exact_results(engine) -> None:  # type: ignore[no-untyped-def]
    assert one(engine, ["digits", "two_places"], a=-1234, b=1, x=2.675) == {"digits": 4, "two_places": 2.67}
