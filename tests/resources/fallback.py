"""A window source with one translated feature and two the translator refuses (evaluated row by row)."""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source("payments", key="user_id", timestamp="ts",
                       schema={"user_id": str, "ts": datetime, "amount": float})


@fdag.window(payments, agg="sum", over="1h")
def spent_1h(amount: float) -> float:
    return amount


def doubled(amount: float) -> float:
    """Translated to one Polars expression."""
    return amount * 2


def share_of_hour(amount: float, spent_1h: float) -> float:
    """A try/except: not translated, so evaluated per row inside the Polars query."""
    try:
        return amount / spent_1h
    except ZeroDivisionError:
        return -1.0


def label(amount: float) -> str:
    """A formatted string the translator refuses, evaluated per row."""
    return f"{amount:.1f}"
