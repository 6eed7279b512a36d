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


@fdag.parameterize(
    low_balance={"floor": fdag.value(100.0)},
    very_low_balance={"floor": fdag.value(10.0)},
)
def below_floor(balance_yesterday: float | None, floor: float) -> bool:
    """Yesterday's balance was below {floor} (no snapshot counts as not below)."""
    return balance_yesterday is not None and balance_yesterday < floor


@fdag.extract_fields({"headroom": float, "headroom_share": float | None})
def credit_headroom(balance_yesterday: float | None, credit_limit_yesterday: float | None) -> dict:
    """What the account may still spend (balance plus credit line), absolute and as a share of the line."""
    if balance_yesterday is None or credit_limit_yesterday is None:
        return None
    headroom = balance_yesterday + credit_limit_yesterday
    return {"headroom": headroom,
            "headroom_share": headroom / credit_limit_yesterday if credit_limit_yesterday > 0 else None}


@fdag.config.when_not(market="us")
def overdraft_fee__standard() -> float:
    return 25.0


@fdag.config.when(market="us")
def overdraft_fee__us() -> float:
    return 35.0


def expected_fee(over_limit: bool, overdraft_fee: float, fx_fee_rate: float = 0.0, amount: float = 0.0) -> float:
    """The fee the payment would cost: the market's overdraft fee past the credit line, plus any FX fee (an
    optional request input, 0 when the request has none)."""
    return (overdraft_fee if over_limit else 0.0) + amount * fx_fee_rate
