"""An int window sum that can leave int64 (and a max over the same values, which cannot)."""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source("payments", key="user_id", timestamp="ts", id="pid",
                       schema={"pid": str, "user_id": str, "ts": datetime, "amount": float, "units": int})


@fdag.window(payments, agg=["sum", "max"], over="1h")
def units(units: int) -> int:
    return units
