"""Payments with a one-hour and a one-day window and an hour of allowed lateness: a short retention (25h)."""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source(
    "payments", key="user", timestamp="ts", id="pid",
    schema={"pid": str, "user": str, "ts": datetime, "amount": float},
    allowed_lateness="1h",
)


@fdag.window(payments, agg=["sum", "count", "max"], over=["1h", "1d"])
def paid(amount: float) -> float:
    return amount
