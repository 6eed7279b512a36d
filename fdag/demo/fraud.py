"""Card-payment fraud features over a stream of transactions: spend velocity in 5-minute, 1-hour and 10-day
windows, and how the payment being scored compares with the user's recent behaviour.

The request is a payment about to be authorised: its `user_id`, `amount` and `merchant`, scored at `as_of`.
Windows cover `[as_of - w, as_of)`, so the payment never counts in its own features.
"""

from __future__ import annotations

from datetime import datetime

import fdag

transactions = fdag.Source(
    "transactions", key="user_id", timestamp="ts", id="txn_id",
    schema={"txn_id": str, "user_id": str, "ts": datetime, "amount": float, "merchant": str},
    allowed_lateness="10m",
)


@fdag.tag(owner="risk")
@fdag.window(transactions, agg=["sum", "count", "mean"], over=["5m", "1h", "10d"])
def spend(amount: float) -> float:
    """Money spent per transaction; makes spend_<agg>_<window> for every aggregation and window."""
    return amount


@fdag.window(transactions, agg="max", over="10d")
def largest_payment_10d(amount: float) -> float:
    """The largest single payment of the last 10 days."""
    return amount


@fdag.window(transactions, agg="distinct_count", over="1h")
def merchants_1h(merchant: str) -> str:
    """How many different merchants the card paid in the last hour (card testing hits many)."""
    return merchant


@fdag.window(transactions, agg="last", over="10d")
def last_merchant_10d(merchant: str) -> str:
    return merchant


def amount_vs_mean_10d(amount: float, spend_mean_10d: float | None) -> float | None:
    """How many times larger this payment is than the user's 10-day mean."""
    if not spend_mean_10d:
        return None
    return amount / spend_mean_10d


def burst_ratio(spend_count_5m: int, spend_count_1h: int) -> float:
    """Share of the last hour's payments made in the last 5 minutes (1.0: all of them, a burst)."""
    if spend_count_1h == 0:
        return 0.0
    return spend_count_5m / spend_count_1h


def exceeds_largest_10d(amount: float, largest_payment_10d: float | None) -> bool:
    """Larger than anything the user paid in 10 days (or the user's first payment)."""
    return largest_payment_10d is None or amount > largest_payment_10d


def same_merchant_as_last(merchant: str, last_merchant_10d: str | None) -> bool:
    return merchant == last_merchant_10d


def hour_of_day(as_of: datetime) -> int:
    return as_of.hour
