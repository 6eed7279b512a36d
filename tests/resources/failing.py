"""Features that raise on some rows, scalar and per event: each engine must record the same errors."""

from __future__ import annotations

import math
from datetime import datetime

import fdag

payments = fdag.Source("payments", key="user_id", timestamp="ts", id="pid",
                       schema={"pid": str, "user_id": str, "ts": datetime, "amount": float, "units": int})


@fdag.window(payments, agg=["sum", "count"], over=["1h", "1d"])
def unit_price(amount: float, units: int) -> float:
    """ZeroDivisionError for an event of zero units; the grid makes four nodes from this one function."""
    return amount / units


@fdag.window(payments, agg="max", over="1d")
def checked_units(units: int) -> int:
    """ValueError naming the units, translated offline (a raise with a formatted message)."""
    if units < 0:
        raise ValueError(f"negative units {units}")
    return units


@fdag.lookup(payments)
def last_log_amount(amount: float) -> float:
    """ValueError (math domain error) for a non-positive amount."""
    return math.log(amount)


def int_ratio(a: int, b: int) -> float:
    return a / b


def int_floor(a: int, b: int) -> int:
    return a // b


def int_mod(a: int, b: int) -> int:
    return a % b


def float_floor(x: float, y: float) -> float:
    return x // y


def float_mod(x: float, y: float) -> float:
    return x % y


def scaled(a: int, b: int) -> int:
    """OverflowError beyond int64, translated offline."""
    return a * b


def huge(a: int, b: int) -> int:
    """OverflowError beyond int64, evaluated per row offline (beyond 128 bits)."""
    return a * b * 2**70


def as_int(x: float) -> int:
    """OverflowError for infinity; beyond int64 for large floats."""
    return int(x)


def liar(a: int) -> int:
    """A returned value the annotation does not admit."""
    return str(a)  # type: ignore[return-value]
