"""One request input of each scalar type, with features that expose the exact value and Python type received
(a numpy scalar, a pandas Timestamp or a nanosecond would show), and a window over events of each type."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import fdag

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
readings = fdag.Source(
    "readings", key="sensor", timestamp="ts", id="rid",
    schema={"rid": str, "sensor": str, "ts": datetime, "value": float, "count": int, "ok": bool},
)


def n_seen(n: int | None) -> str:
    return f"{type(n).__name__}:{n}"


def x_seen(x: float | None) -> str:
    return f"{type(x).__name__}:{x!r}"


def flag_seen(flag: bool | None) -> str:
    return f"{type(flag).__name__}:{flag}"


def word_seen(word: str | None) -> str:
    return f"{type(word).__name__}:{word}"


def at_seen(at: datetime | None) -> str:
    return "None" if at is None else f"{type(at).__name__}:{(at - EPOCH) // timedelta(microseconds=1)}:{at.tzinfo}"


def as_of_micros(as_of: datetime) -> int:
    return (as_of - EPOCH) // timedelta(microseconds=1)


@fdag.window(readings, agg=["sum", "count"], over="1h")
def reading(value: float) -> float:
    return value


@fdag.window(readings, agg="sum", over="1h")
def counted(count: int) -> int:
    return count


@fdag.window(readings, agg="count", over="1h")
def healthy(ok: bool) -> bool:
    return ok


@fdag.window(readings, agg="max", over="1h")
def latest_reading_at(ts: datetime) -> datetime:
    return ts
