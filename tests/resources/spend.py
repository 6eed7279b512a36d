"""A window over payments and two features that fail on some rows, with messages that depend on the row."""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source("payments", key="user_id", timestamp="ts",
                       schema={"user_id": str, "ts": datetime, "amount": float})


@fdag.window(payments, agg="sum", over="1h")
def spent_1h(amount: float) -> float:
    return amount


def share_of_hour(amount: float, spent_1h: float) -> float:
    """ZeroDivisionError for a user who spent nothing in the hour."""
    return amount / spent_1h


def checked_amount(amount: float) -> float:
    """ValueError naming the amount, for negative amounts."""
    if amount < 0:
        raise ValueError(f"negative amount {amount}")
    return amount
