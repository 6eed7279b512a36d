"""Payment events for the stream tests, and the oracle they are checked against: FrameDriver on the same events."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl

import fdag
from tests.resources import payments as module

SOURCE = module.payments
DAG = fdag.Dag.from_modules(module)
T0 = datetime(2024, 5, 1, tzinfo=UTC)
SPAN = timedelta(hours=6)  # shorter than the longest window: no event can fall out of state by reordering


def make_payments(count: int, cards: int, seed: int, start: datetime = T0) -> list[dict[str, Any]]:
    """``count`` payments over ``SPAN`` in roughly time order: each up to 5 minutes late (within the lateness)."""
    rng = random.Random(seed)
    step = SPAN / count
    return [{"payment_id": f"p{seed}-{i}", "card": f"c{rng.randrange(cards)}",
             "ts": start + i * step - timedelta(seconds=rng.uniform(0, 300)),
             "amount": round(rng.uniform(0.5, 500), 2), "items": rng.randrange(1, 6),
             "merchant": f"m{rng.randrange(40)}", "flagged": rng.choice([True, False, None])}
            for i in range(count)]


def with_resends_and_late(events: list[dict[str, Any]], seed: int, resend: float = 0.05,
                          late: int = 200) -> list[dict[str, Any]]:
    """The stream a flaky producer writes: ``resend`` of the events sent again a little later (same id, same
    content), and ``late`` events three days older than the rest, after the first tenth (always too late)."""
    rng = random.Random(seed)
    stream = list(events)
    for _ in range(int(len(events) * resend)):
        i = rng.randrange(len(events))
        stream.insert(min(len(stream), i + rng.randrange(1, 2_000)), dict(events[i]))
    for j in range(late):
        old = dict(events[rng.randrange(len(events))], payment_id=f"late-{seed}-{j}")
        old["ts"] -= timedelta(days=3)
        stream.insert(rng.randrange(len(stream) // 10, len(stream)), old)
    return stream


def unique(events: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The events deduplicated by id, first copy kept."""
    seen: set[str] = set()
    kept = []
    for event in events:
        if event["payment_id"] not in seen:
            seen.add(event["payment_id"])
            kept.append(event)
    return kept


def frame_of(events: Sequence[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(list(events), schema={c: t.polars for c, t in SOURCE.schema.items()}, orient="row")


def spine(cards: int, end: datetime) -> pl.DataFrame:
    """Every card at instants after the last event (where online state answers exactly), 1 minute to 23 hours on."""
    offsets = [timedelta(minutes=1), timedelta(minutes=20), timedelta(minutes=50), timedelta(hours=3),
               timedelta(hours=23)]
    rows = [{"card": f"c{c}", "as_of": end + offset} for offset in offsets for c in range(cards)]
    return pl.DataFrame(rows, schema={"card": pl.String, "as_of": pl.Datetime("us", "UTC")})


def assert_matches_frame(row: fdag.RowDriver, events: Sequence[dict[str, Any]], requests: pl.DataFrame) -> None:
    """``row``'s features at every spine row equal FrameDriver's over ``events`` (floats to 1e-9 relative)."""
    expected = fdag.FrameDriver(DAG, list(row.outputs)).run(requests, sources={"payments": frame_of(events)},
                                                            as_of="as_of")
    vectors = row.get_many([{"card": card} for card in requests["card"]], as_of=list(requests["as_of"]))
    mismatches = []
    for position, (want, vector) in enumerate(zip(expected.iter_rows(named=True), vectors, strict=True)):
        for name in row.outputs:
            got, exp = vector[name], want[name]
            same = (got == exp if not isinstance(exp, float) or not isinstance(got, float)
                    else math.isclose(got, exp, rel_tol=1e-9, abs_tol=1e-9))
            if not same:
                mismatches.append((position, want["card"], want["as_of"], name, got, exp))
    assert not mismatches, f"{len(mismatches)} mismatches, first: {mismatches[:5]}"
