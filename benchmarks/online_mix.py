"""The realistic online mix of the window-state benchmark: 10 features over one stream of card payments.

sum, count, mean, max with ``closed="both"``, min over 10 days, std, distinct_count, last, a filtered sum and a
derived ratio — the kinds of aggregations production features use, not only prefix sums.
"""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source(
    "payments", key="user_id", timestamp="ts", id="txn_id",
    schema={"txn_id": int, "user_id": str, "ts": datetime, "amount": float, "merchant": str, "online": bool},
    allowed_lateness="10m", max_future=None,
)


@fdag.window(payments, agg=["sum", "count"], over="1h")
def spend(amount: float) -> float:
    """Money spent per payment."""
    return amount


@fdag.window(payments, agg="mean", over="10d")
def spend_mean_10d(amount: float) -> float:
    """Money spent per payment, for the 10-day mean."""
    return amount


@fdag.window(payments, agg="max", over="10d", closed="both")
def largest_10d(amount: float) -> float:
    """The largest payment of the last 10 days, the edge included."""
    return amount


@fdag.window(payments, agg="min", over="10d")
def smallest_10d(amount: float) -> float:
    """The smallest payment of the last 10 days."""
    return amount


@fdag.window(payments, agg="std", over="1d")
def spread_1d(amount: float) -> float:
    """How much the day's payments vary."""
    return amount


@fdag.window(payments, agg="distinct_count", over="1d")
def merchants_1d(merchant: str) -> str:
    """Distinct merchants paid in the last day."""
    return merchant


@fdag.window(payments, agg="last", over="10d")
def last_merchant_10d(merchant: str) -> str:
    """The merchant of the newest payment."""
    return merchant


@fdag.window(payments, agg="sum", over="1d")
def online_spend_1d(amount: float, online: bool) -> float | None:
    """Money spent online (a filtered sum: offline payments are skipped)."""
    return amount if online else None


def hour_vs_mean(spend_sum_1h: float, spend_mean_10d: float | None) -> float | None:
    """The last hour's spend relative to the 10-day mean payment (a derived ratio)."""
    if not spend_mean_10d:
        return None
    return spend_sum_1h / spend_mean_10d


OUTPUTS = ["spend_sum_1h", "spend_count_1h", "spend_mean_10d", "largest_10d", "smallest_10d", "spread_1d",
           "merchants_1d", "last_merchant_10d", "online_spend_1d", "hour_vs_mean"]
