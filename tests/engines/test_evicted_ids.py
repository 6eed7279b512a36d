"""Ids re-sent after their event was evicted online: what the contract leaves open, decided and pinned.

Online state remembers an id exactly as long as its event can be in a window (the longest window plus
``allowed_lateness`` behind the watermark, as the horizon stood when the batch began), in every store (MemoryStore
evicts the events themselves in batches, later, but forgets their ids on time); forgetting is what keeps the state
bounded. A copy re-sent later with its original timestamp is then too late, and changes nothing, as offline. A copy
dated *later* than its original, arriving once the original is forgotten, is indistinguishable from a new event and
is applied; offline, which sees both copies, keeps the earliest. docs/reliability.md states this decision.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl

import fdag
from fdag._stores.protocol import IngestReport, Store
from tests.resources import sums

T0 = datetime(2024, 5, 1, tzinfo=UTC)
H = timedelta(hours=1)
DAG = fdag.Dag.from_modules(sums)  # units_sum_1h over payments (id "pid"), no allowed lateness


def event(pid: str, at: datetime, units: int) -> dict[str, object]:
    return {"pid": pid, "user_id": "u1", "ts": at, "amount": 1.0, "units": units}


ORIGINAL, LATER = event("a", T0, 1), event("b", T0 + 3 * H, 10)  # "b" moves the watermark: "a" is evicted


def test_a_copy_with_its_original_timestamp_after_eviction_is_too_late(new_store: Callable[[], Store]) -> None:
    row = fdag.RowDriver(DAG, ["units_sum_1h"], store=new_store())
    row.ingest("payments", [ORIGINAL, LATER])
    report = row.ingest("payments", ORIGINAL)
    assert report == IngestReport(too_late=1)  # the same count from every store
    as_of = T0 + 3 * H + timedelta(minutes=1)
    offline = fdag.FrameDriver(DAG, ["units_sum_1h"]).run(
        pl.DataFrame({"user_id": ["u1"], "as_of": [as_of]}),
        sources={"payments": pl.DataFrame([ORIGINAL, LATER, ORIGINAL])})
    assert row.get({"user_id": "u1"}, as_of)["units_sum_1h"] == offline["units_sum_1h"][0] == 10


def test_a_later_dated_copy_after_eviction_is_a_new_event_online(new_store: Callable[[], Store]) -> None:
    store = new_store()
    row = fdag.RowDriver(DAG, ["units_sum_1h"], store=store)
    row.ingest("payments", [ORIGINAL, LATER])
    copy = event("a", T0 + 3 * H - timedelta(minutes=30), 1)
    report = row.ingest("payments", copy)
    assert report == IngestReport(accepted=1)  # the id was forgotten on time, in every store
    as_of = T0 + 3 * H + timedelta(minutes=1)
    assert row.get({"user_id": "u1"}, as_of)["units_sum_1h"] == 11
    offline = fdag.FrameDriver(DAG, ["units_sum_1h"]).run(
        pl.DataFrame({"user_id": ["u1"], "as_of": [as_of]}),
        sources={"payments": pl.DataFrame([ORIGINAL, LATER, copy])})
    assert offline["units_sum_1h"][0] == 10  # offline keeps the earliest copy, dated outside this window
