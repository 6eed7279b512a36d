"""Copies of one id with different timestamps: offline (and a bootstrapped history) keeps the earliest copy, by
timestamp then frame order, for windows and lookups alike; online keeps the first to arrive; the two agree when
events arrive in time order."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

import polars as pl
import pytest

import fdag

T0 = datetime(2024, 5, 1, 10, tzinfo=UTC)
MODULE = """
from datetime import datetime
import fdag

events = fdag.Source("events", key="user-id", timestamp="event time", id="event-id",
                     schema={"event-id": str, "user-id": str, "event time": datetime, "units": int})


@fdag.window(events, agg=["count", "first", "last"], over="20m")
def units(units: int) -> int:
    return units


@fdag.lookup(events, default=-1)
def latest_units(units: int) -> int:
    return units
"""
# "a" is re-sent dated 10 minutes *before* its first copy in the frame: the earliest copy is the later row.
ROWS = [{"event-id": "a", "user-id": "u", "event time": T0, "units": 1},
        {"event-id": "b", "user-id": "u", "event time": T0 + timedelta(minutes=5), "units": 2},
        {"event-id": "a", "user-id": "u", "event time": T0 - timedelta(minutes=10), "units": 9}]
ASKED = [T0 - timedelta(minutes=5), T0 + timedelta(minutes=1), T0 + timedelta(minutes=9)]
# By hand, from the earliest copies (a at 09:50 with 9, b at 10:05 with 2):
EARLIEST = {"units_count_20m": [1, 1, 2], "units_first_20m": [9, 9, 9], "units_last_20m": [9, 9, 2],
            "latest_units": [9, 9, 2]}


@pytest.fixture
def dag(make_module: Callable[[str, str], ModuleType]) -> fdag.Dag:
    return fdag.Dag.from_modules(make_module("earliest_copy", MODULE))


def answers(row: fdag.RowDriver) -> dict[str, list[Any]]:
    vectors = [row.get({"user-id": "u"}, as_of) for as_of in ASKED]
    return {name: [v[name] for v in vectors] for name in EARLIEST}


def test_offline_keeps_the_earliest_copy_for_windows_and_lookups(dag: fdag.Dag) -> None:
    spine = pl.DataFrame({"user-id": ["u"] * 3, "as_of": ASKED})
    out = fdag.FrameDriver(dag).run(spine, sources={"events": pl.DataFrame(ROWS)})
    assert {name: out[name].to_list() for name in EARLIEST} == EARLIEST


def test_online_in_time_order_and_a_bootstrapped_history_agree_with_offline(dag: fdag.Dag) -> None:
    live = fdag.RowDriver(dag)
    for event in sorted(ROWS, key=lambda e: e["event time"]):
        live.ingest("events", event)
    assert answers(live) == EARLIEST
    loaded = fdag.RowDriver(dag)
    assert loaded.bootstrap("events", pl.DataFrame(ROWS)).duplicates == 1
    assert answers(loaded) == EARLIEST


def test_online_out_of_time_order_keeps_the_first_to_arrive(dag: fdag.Dag) -> None:
    """The contract's other half: a copy arriving after its id was applied is a duplicate, whatever its date."""
    row = fdag.RowDriver(dag)
    reports = [row.ingest("events", event) for event in ROWS]
    assert [r.duplicates for r in reports] == [0, 0, 1]
    assert answers(row) == {"units_count_20m": [0, 1, 2], "units_first_20m": [None, 1, 1],
                            "units_last_20m": [None, 1, 2], "latest_units": [-1, 1, 2]}
