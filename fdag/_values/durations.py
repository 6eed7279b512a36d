"""Durations: ``"30s"``, ``"5m"``, ``"1h"``, ``"10d"`` or a ``timedelta``; always exact, never calendar units."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN = re.compile(r"^(\d+)(us|ms|s|m|h|d|w)$")


def parse_duration(value: str | timedelta) -> timedelta:
    """Parse ``"5m"``-style text (or pass a ``timedelta`` through); ``"1d"`` is exactly 86,400 seconds."""
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise ValueError(f"duration {value} is negative. Hint: windows and lags look back; use a positive one.")
        return value
    match = _PATTERN.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(
            f"cannot read {value!r} as a duration. Hint: write e.g. '30s', '5m', '1h', '10d' or pass a timedelta."
        )
    amount, unit = int(match.group(1)), match.group(2)
    if unit == "us":
        return timedelta(microseconds=amount)
    if unit == "ms":
        return timedelta(milliseconds=amount)
    return timedelta(seconds=amount * _UNITS[unit])


def duration_label(value: timedelta) -> str:
    """The shortest exact label of a duration (``timedelta(hours=1)`` → ``"1h"``), used in node names."""
    micros = value // timedelta(microseconds=1)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1000)):
        if micros and micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"
