"""A feature named like the reserved request instant."""

from __future__ import annotations

from datetime import datetime


def as_of(now: datetime) -> datetime:
    return now
