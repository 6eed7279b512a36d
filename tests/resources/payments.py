"""Card payments for the stream tests: sums and counts over two clocks, an int sum, a last value, a null-skipping
count — every column of the source is read by some window, so a mistyped value anywhere is a malformed event."""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source(
    "payments", key="card", timestamp="ts", id="payment_id",
    schema={"payment_id": str, "card": str, "ts": datetime, "amount": float, "items": int, "merchant": str,
            "flagged": bool | None},
    allowed_lateness="10m",
)


@fdag.window(payments, agg=["sum", "count"], over=["1h", "1d"])
def spend(amount: float) -> float:
    return amount


@fdag.window(payments, agg="sum", over="1d")
def items_1d(items: int) -> int:
    return items


@fdag.window(payments, agg="last", over="1d")
def last_merchant_1d(merchant: str) -> str:
    return merchant


@fdag.window(payments, agg="count", over="1h")
def flagged_1h(flagged: bool | None) -> bool | None:
    """How many payments of the last hour carry a fraud flag at all (null flags are skipped)."""
    return flagged
