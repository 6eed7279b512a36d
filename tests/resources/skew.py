"""Two sources keyed by card: payment windows, login windows, one feature of both and a request-time one."""

from __future__ import annotations

from datetime import datetime

import fdag

payments = fdag.Source(
    "payments", key="card", timestamp="ts", id="payment_id",
    schema={"payment_id": str, "card": str, "ts": datetime, "amount": float},
)
logins = fdag.Source(
    "logins", key="card", timestamp="ts", id="login_id",
    schema={"login_id": str, "card": str, "ts": datetime, "device": str},
)


@fdag.window(payments, agg="sum", over="1h")
def spend_1h(amount: float) -> float:
    return amount


@fdag.window(payments, agg="count", over="1d")
def payments_1d(amount: float) -> float:
    return amount


@fdag.window(logins, agg="count", over="1h")
def logins_1h(device: str) -> str:
    return device


@fdag.window(logins, agg="distinct_count", over="1d")
def devices_1d(device: str) -> str:
    return device


def spend_per_login(spend_1h: float, logins_1h: int) -> float | None:
    """Money spent per login in the last hour (null without logins)."""
    return spend_1h / logins_1h if logins_1h else None


def large(amount: float) -> bool:
    return amount > 100


def amount_cents(amount: float) -> float:
    return amount * 100
