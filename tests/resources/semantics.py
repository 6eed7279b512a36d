"""Scalar features that pin Python's semantics: division, rounding, nulls, strings, time, overflow."""

from __future__ import annotations

import math
from datetime import datetime


def true_div(a: int, b: int) -> float:
    return a / b


def floor_div(a: int, b: int) -> int:
    return a // b


def modulo(a: int, b: int) -> int:
    return a % b


def safe_div(a: int, b: int) -> float | None:
    return a / b if b != 0 else None


def describe(a: int | None) -> str:
    return "missing" if a is None else "present"


def bucket(a: int) -> str:
    if a < 0:
        return "negative"
    elif a == 0:
        return "zero"
    elif a < 100:
        return "small"
    return "large"


def either(a: int, b: int) -> int:
    return a or b


def rounded(x: float) -> int:
    return round(x)


def root(x: float) -> float:
    return math.sqrt(x)


def log_x(x: float) -> float:
    return math.log(x)


def clean(s: str) -> str:
    return s.strip().lower()


def shout(s: str) -> str:
    return s.upper()


def n_chars(s: str) -> int:
    return len(s)


def has_at(s: str) -> bool:
    return "@" in s


def hour(as_of: datetime) -> int:
    return as_of.hour


def weekday(as_of: datetime) -> int:
    return as_of.weekday()


def minute_of_day(as_of: datetime) -> int:
    return as_of.hour * 60 + as_of.minute


def clamped(a: int) -> int:
    return max(-10, min(a, 10))


def distance(a: int, b: int) -> int:
    return abs(a - b)


def product(a: int, b: int) -> int:
    return a * b


def digits(a: int) -> int:
    return len(str(abs(a)))


def two_places(x: float) -> float:
    return round(x, 2)
