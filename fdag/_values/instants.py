"""Instants as fdag counts them: microseconds since the Unix epoch, UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_NAIVE = datetime(1970, 1, 1)
MICROSECOND = timedelta(microseconds=1)


def micros(instant: datetime) -> int:
    """Microseconds since the epoch of ``instant`` (naive read as UTC), exactly."""
    if instant.tzinfo is None:
        return (instant - EPOCH_NAIVE) // MICROSECOND
    return (instant - EPOCH) // MICROSECOND
