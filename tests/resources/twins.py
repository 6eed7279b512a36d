"""Window functions that compute the same per-event value under different names (stored once online), next to
look-alikes that must not share: another transformation of the same column, the same body over another column,
another declared type, a global. ``inverse`` and ``inverse_twin`` raise on a zero amount (errors under both
names), ``inverse_fee`` on a zero fee (its column sits between theirs, nodes being planned by name)."""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source("payments", key="user_id", timestamp="ts", id="pid", allowed_lateness="30m",
                       schema={"pid": int, "user_id": str, "ts": datetime, "amount": float | None,
                               "fee": float | None, "merchant": str})
SCALE = 2.0


@fdag.window(payments, agg=["sum", "count"], over="1h")
def spend(amount: float) -> float:
    """Money spent."""
    return amount


@fdag.window(payments, agg="max", over="6h", closed="both")
def largest(amount: float) -> float:
    """The largest payment (another docstring, the same value as spend)."""
    return amount


@fdag.window(payments, agg="std", over="6h")
def spread(amount: float) -> float:
    """How payments vary (the same value as spend)."""
    return amount


@fdag.window(payments, agg="sum", over="6h")
def doubled(amount: float) -> float:
    """Another transformation of the same column: not shared."""
    return amount * 2.0


@fdag.window(payments, agg="sum", over="6h")
def scaled(amount: float) -> float:
    """Reads a global, which could be rebound: not shared."""
    return amount * SCALE


@fdag.window(payments, agg="min", over="6h")
def plus_zero(amount: float) -> float:
    """-0.0 becomes 0.0: not shared with spend."""
    return amount + 0.0


@fdag.window(payments, agg="last", over="6h")
def maybe_amount(amount: float | None) -> float | None:
    """The same body with an optional parameter (another null rule): not shared."""
    return amount


@fdag.window(payments, agg="sum", over="6h")
def fee_total(fee: float) -> float:
    """The same body over another column: not shared."""
    return fee


@fdag.window(payments, agg="sum", over="1h")
def inverse(amount: float) -> float:
    """Raises on a zero amount."""
    return 1.0 / amount


@fdag.window(payments, agg="mean", over="6h")
def inverse_twin(amount: float) -> float:
    """The same value as inverse: shared, its errors still recorded under its own name."""
    return 1.0 / amount


@fdag.window(payments, agg="sum", over="1h")
def inverse_fee(fee: float) -> float:
    """Raises on a zero fee."""
    return 1.0 / fee


@fdag.window(payments, agg="distinct_count", over="6h")
def merchants(merchant: str) -> str:
    """Distinct merchants."""
    return merchant


@fdag.window(payments, agg="last", over="6h")
def last_merchant(merchant: str) -> str:
    """The newest merchant (the same value as merchants)."""
    return merchant


# Value columns stored as one, by the function whose column holds them.
SHARED = [{"spend", "largest", "spread"}, {"inverse", "inverse_twin"}, {"merchants", "last_merchant"}]
