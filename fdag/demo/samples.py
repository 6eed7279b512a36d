"""Reproducible sample data for the demo, the example service and the tests: payment requests to score and a
card-transaction history with the awkward parts of real traffic (bursts, disorder, re-sent events)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

CATEGORIES = ["grocery", "travel", " Gambling", "crypto", "restaurants", "electronics", "gift_cards", "fuel"]
COUNTRIES = ["FR", "DE", "us", "GB", "NL", "BR"]


def payments(n: int, seed: int = 7) -> list[dict[str, Any]]:
    """A reproducible sample of payment requests, with the awkward values real traffic has."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    rows = []
    for _ in range(n):
        rows.append({
            "amount": rng.choice([round(rng.lognormvariate(3.5, 1.4), 2), 100.0, 2500.0, -20.0]),
            "merchant_category": rng.choice(CATEGORIES),
            "card_country": rng.choice(COUNTRIES),
            "merchant_country": rng.choice(COUNTRIES),
            "account_age_days": rng.choice([0, 1, 12, 45, 400, 2000]),
            "daily_limit": rng.choice([None, 500.0, 2000.0, 0.0]),
            "card_present": rng.random() < 0.4,
            "as_of": start + timedelta(seconds=rng.randrange(14 * 86400)),
        })
    return rows


def transactions(users: int, count: int, days: int, seed: int = 11) -> pl.DataFrame:
    """A reproducible card-transaction history: bursty users, unsorted, with re-sent duplicates."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1, tzinfo=UTC)
    rows = []
    for number in range(count):
        user = f"u{int(users * rng.random() ** 3)}"  # a few heavy users, many light ones
        at = start + timedelta(seconds=rng.randrange(days * 86400))
        rows.append({"txn_id": f"t{number}", "user_id": user, "ts": at,
                     "amount": round(rng.lognormvariate(3.2, 1.1), 2), "merchant": f"m{rng.randrange(40)}"})
        if rng.random() < 0.1:  # a burst: card testing at several merchants within minutes
            for extra in range(rng.randrange(1, 5)):
                rows.append({"txn_id": f"t{number}b{extra}", "user_id": user,
                             "ts": at + timedelta(seconds=rng.randrange(1, 240)), "amount": 1.0,
                             "merchant": f"m{rng.randrange(40)}"})
    rows += rng.sample(rows, len(rows) // 100)  # re-sent events: same id, same content
    rng.shuffle(rows)
    return pl.DataFrame(rows)
