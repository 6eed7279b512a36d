"""Durations: ``"30s"``, ``"5m"``, ``"1h"``, ``"10d"`` or a ``timedelta``; always exact, never calendar units."""

from __future__ import annotations

import re
from datetime import timedelta

from fdag.errors import DeclarationError, DeclarationTypeError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN = re.compile(r"^(\d+)(us|ms|s|m|h|d|w)$")
_WRITE = "write e.g. '30s', '5m', '1h', '10d' or pass a timedelta"


def parse_duration(value: str | timedelta, argument: str = "duration") -> timedelta:
    """Parse ``"5m"``-style text (or pass a ``timedelta`` through); ``"1d"`` is exactly 86,400 seconds.

    Anything else raises ``DeclarationError`` naming ``argument`` (the parameter it was given as, e.g. ``over``).
    """
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise DeclarationError(argument, value, "is negative", "windows and lags look back; use a positive one")
        return value
    if not isinstance(value, str):
        raise DeclarationTypeError(argument, value, f"is a {type(value).__name__}, not a duration", _WRITE)
    match = _PATTERN.match(value.strip())
    if match is None:
        raise DeclarationError(argument, value, "is not a duration", _WRITE)
    digits, unit = match.group(1), match.group(2)
    try:
        amount = int(digits)
        if unit == "us":
            return timedelta(microseconds=amount)
        if unit == "ms":
            return timedelta(milliseconds=amount)
        return timedelta(seconds=amount * _UNITS[unit])
    except (OverflowError, ValueError):  # beyond timedelta's 999,999,999 days (or int's digit limit)
        raise DeclarationError(argument, value, "is longer than any duration Python can hold",
                               "windows and lags are at most 999,999,999 days") from None


def duration_label(value: timedelta) -> str:
    """The shortest exact label of a duration (``timedelta(hours=1)`` → ``"1h"``), used in node names."""
    micros = value // timedelta(microseconds=1)
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000), ("s", 1_000_000), ("ms", 1000)):
        if micros and micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"
