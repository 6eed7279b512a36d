"""Output checks of every kind, on plain features, a window and a lookup (an engine-agreement fixture).

``ratio`` is null where ``limit`` is zero (a ZeroDivisionError) or an input is null; ``bucket`` reads it, so its
checks run even when only ``bucket`` is asked for.
"""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source("payments", key="card", timestamp="ts", id="pid",
                       schema={"pid": str, "card": str, "ts": datetime, "amount": float}, allowed_lateness="1d")
limits = fdag.Source("limits", key="card", timestamp="ts", schema={"card": str, "ts": datetime, "limit": float})


@fdag.check_output(range=(0.0, 1.0), allow_null=False)
def ratio(amount: float, limit: float) -> float:
    """The payment as a share of the limit: above 1 or null fails."""
    return amount / limit


@fdag.check_output(one_of=["low", "mid", "high"], max_null_fraction=0.25)
def bucket(ratio: float) -> str:
    if ratio < 0.3:
        return "low"
    if ratio < 0.7:
        return "mid"
    return "high" if ratio <= 1.0 else "over"


@fdag.check_output(range=(-5, 5), importance="warn")
def steps(amount: float) -> int:
    return int(amount // 10)


@fdag.check_output(range=(0, 2))
@fdag.window(payments, agg="count", over="1h")
def payments_1h(amount: float) -> float:
    return amount


@fdag.check_output(allow_null=False)
@fdag.lookup(limits)
def card_limit(limit: float) -> float:
    return limit
