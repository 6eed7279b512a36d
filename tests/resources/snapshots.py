"""Lookups with every option, over two snapshot sources whose timestamps are not named "ts".

``accounts`` has int keys and int ids (ties at one timestamp go to the larger id); ``prices`` has str keys and
no ids (ties go to the row that arrived last, the last in frame order offline).
"""

from __future__ import annotations

from datetime import datetime

import fdag

accounts = fdag.Source(
    "accounts", key="account", timestamp="event_timestamp", id="snap_id",
    schema={"snap_id": int, "account": int, "event_timestamp": datetime, "balance": float | None,
            "tier": str | None},
)
# Any instant: a test reads prices dated past the year 2255, where Redis scores round.
prices = fdag.Source("prices", key="sku", timestamp="at", schema={"sku": str, "at": datetime, "price": float | None},
                     max_future=None)


@fdag.lookup(accounts)
def balance_now(balance: float) -> float:
    """The newest row at or before as_of; its null balance is null (no older row stands in)."""
    return balance


@fdag.lookup(accounts, lag="1h", max_age="2h", default=0)
def balance_fresh(balance: float | None) -> float | None:
    """At most two hours older than the newest row that has landed, else 0.0 (the int default, as a float)."""
    return balance


@fdag.lookup(accounts, lag="1h", max_age="30m", default="unknown")
def tier_recent(tier: str) -> str:
    return tier


@fdag.lookup(accounts, lag="1d")
def tier_upper(tier: str) -> str:
    return tier.upper()


@fdag.lookup(prices, max_age="10m", default=-1.0)
def price_recent(price: float) -> float:
    return price


@fdag.lookup(prices, lag="5m")
def price_lagged(price: float) -> float:
    return price


def balance_in_units(balance_fresh: float | None, price_recent: float) -> float | None:
    """Derived from lookups of two sources: its as-of is the older of their as-ofs."""
    if balance_fresh is None or price_recent <= 0:
        return None
    return balance_fresh / price_recent
