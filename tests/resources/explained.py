"""Windows (several aggregations, ``closed="both"``, a per-event function that raises), a lookup with lag,
max_age and default, and features derived from both: what a provenance explains."""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source(
    "payments", key="card", timestamp="ts", id="pid",
    schema={"pid": str, "card": str, "ts": datetime, "amount": float | None},
    allowed_lateness="1d",  # nothing of a few hours' history is evicted: any as_of answers online
)
limits = fdag.Source("limits", key="card", timestamp="ts", id="lid",
                     schema={"lid": int, "card": str, "ts": datetime, "limit": float | None})


@fdag.window(payments, agg=["sum", "count"], over=["10m", "1h"])
def spend(amount: float) -> float:
    return amount


@fdag.window(payments, agg="last", over="30m", closed="both")
def last_amount(amount: float) -> float:
    """Counts the event at exactly as_of too."""
    return amount


@fdag.window(payments, agg="max", over="1h")
def small_max_1h(amount: float) -> float:
    """An amount above 90 raises: that event's value is null, and skipped."""
    if amount > 90:
        raise ValueError("too large")
    return amount


@fdag.lookup(limits, lag="5m", max_age="30m", default=100.0)
def limit_now(limit: float) -> float:
    return limit


def headroom(limit_now: float, spend_sum_1h: float) -> float:
    return limit_now - spend_sum_1h


def recent_share(spend_count_10m: int, spend_count_1h: int) -> float:
    """Raises ZeroDivisionError on an empty hour: null, recorded."""
    return spend_count_10m / spend_count_1h


def score(headroom: float | None, recent_share: float | None, amount: float) -> float | None:
    if headroom is None or recent_share is None:
        return None
    return headroom * recent_share - amount
