"""Batch features from a daily snapshot of account balances, served and trained with the same availability.

The snapshot of day D is taken at midnight but lands a day later, so at any instant the newest snapshot a model
may use is the one with ``ts + 1 day <= as_of``. Training with the snapshot of the request's own day would be
a leak the service could never reproduce (the inconsistency the Varo Bank case describes).
"""

from __future__ import annotations

from datetime import datetime

import fdag

balances = fdag.Source(
    "balances", key="user_id", timestamp="ts",
    schema={"user_id": str, "ts": datetime, "balance": float, "credit_limit": float | None},
)


@fdag.lookup(balances, lag="1d")
def balance_yesterday(balance: float) -> float:
    """The balance of the newest snapshot that had landed by the request (taken at least a day before)."""
    return balance


@fdag.lookup(balances, lag="1d")
def credit_limit_yesterday(credit_limit: float | None) -> float | None:
    return credit_limit


def amount_vs_balance(amount: float, balance_yesterday: float | None) -> float | None:
    """The payment as a share of yesterday's balance; unknown when there is no snapshot or no money."""
    if balance_yesterday is None or balance_yesterday <= 0:
        return None
    return amount / balance_yesterday


def over_limit(amount: float, balance_yesterday: float | None, credit_limit_yesterday: float | None) -> bool:
    """The payment would take the account past its credit line."""
    if balance_yesterday is None:
        return False
    limit = credit_limit_yesterday if credit_limit_yesterday is not None else 0.0
    return amount > balance_yesterday + limit
