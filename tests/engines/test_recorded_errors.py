"""Errors are recorded, and recorded alike: the same row error gives the same record in both engines and both
stores, for scalar features (per request) and per-event functions of windows and lookups (per event)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from fdag._stores.protocol import Store
from tests.resources import failing, sums

DAG = fdag.Dag.from_modules(failing)
T0 = datetime(2024, 5, 1, tzinfo=UTC)
SCALARS = ["int_ratio", "int_floor", "int_mod", "float_floor", "float_mod", "scaled", "huge", "as_int", "liar"]
EVENTS = [
    {"pid": "p1", "user_id": "u1", "ts": T0, "amount": 10.0, "units": 0},
    {"pid": "p2", "user_id": "u1", "ts": T0 + timedelta(minutes=5), "amount": -2.0, "units": -3},
    {"pid": "p3", "user_id": "u2", "ts": T0 + timedelta(minutes=9), "amount": 4.0, "units": 2},
    {"pid": "p4", "user_id": "u2", "ts": T0 + timedelta(minutes=9), "amount": 0.0, "units": 0},
    {"pid": "p4", "user_id": "u2", "ts": T0 + timedelta(minutes=9), "amount": 0.0, "units": 0},  # sent twice
]
# One record per function, exception type and message; counted in events, once per event (not per node).
EVENT_ERRORS = [
    fdag.ErrorRecord("unit_price", "ZeroDivisionError", "float division by zero", 3),
    fdag.ErrorRecord("checked_units", "ValueError", "negative units -3", 1),
    fdag.ErrorRecord("last_log_amount", "ValueError", "math domain error", 3),
]


def records(errors: Any) -> Counter[tuple[str, str, str]]:
    counts: Counter[tuple[str, str, str]] = Counter()
    for e in errors:
        counts[e.node, e.type, e.message] += e.count
    return counts


def test_scalar_errors_have_the_same_text_in_both_engines() -> None:
    values = [0, 1, -7, 3, 2**40, 2**62, -(2**63)]
    floats = [0.0, -0.0, 2.5, -1.0, 1e19, 1e300, float("inf")]
    requests = [{"a": a, "b": b, "x": x, "y": y} for a in values for b in values[:4] for x in floats
                for y in floats[:3]]
    row = fdag.RowDriver(DAG, SCALARS)
    online = records(e for r in requests for e in row.get(r, T0).errors)
    result = fdag.FrameDriver(DAG, SCALARS).evaluate(pl.DataFrame([{**r, "as_of": T0} for r in requests]))
    assert records(result.errors) == online
    kinds = {(node, kind, message) for node, kind, message in online}
    assert {("int_ratio", "ZeroDivisionError", "division by zero"),
            ("int_floor", "ZeroDivisionError", "integer division or modulo by zero"),
            ("float_mod", "ZeroDivisionError", "float modulo"),
            ("scaled", "OverflowError", "returned value does not fit in int64"),
            ("huge", "OverflowError", "returned value does not fit in int64"),
            ("as_int", "OverflowError", "cannot convert float infinity to integer"),
            ("as_int", "OverflowError", "returned value does not fit in int64"),
            ("liar", "TypeError", "returned value is a str ('0') but the type is 'int'")} <= kinds


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([0, 1, -7, 2**40, 2**62]), st.sampled_from([0, 1, -7]),
                          st.sampled_from([2.5, -1.0, 1e19, 1e300, float("inf"), float("-inf")])), max_size=12))
def test_scalar_errors_are_one_record_per_error_in_order_of_first_row(rows: list[tuple[int, int, float]]) -> None:
    """Offline, each (node, type, message) is one record with every row it failed on, a node's records in the
    order of their first failing row (what ``errors="raise"`` reports), as the RowDriver finds them request by
    request. ``as_int`` raises "does not fit in int64" from two translated conditions (1e19 and 1e300 fail
    different tests): one record, not one per condition (there were two, each counting its own rows)."""
    names = ["int_ratio", "scaled", "as_int"]
    row = fdag.RowDriver(DAG, names)
    expected: dict[str, dict[tuple[str, str], int]] = {name: {} for name in names}  # (dicts keep first-seen order)
    for a, b, x in rows:
        for e in row.get({"a": a, "b": b, "x": x}, T0).errors:
            seen = expected[e.node]
            seen[e.type, e.message] = seen.get((e.type, e.message), 0) + e.count
    spine = pl.DataFrame({"a": [r[0] for r in rows], "b": [r[1] for r in rows], "x": [r[2] for r in rows]},
                         schema={"a": pl.Int64, "b": pl.Int64, "x": pl.Float64})
    errors = fdag.FrameDriver(DAG, names).evaluate(spine).errors
    for name in names:
        found = [((e.type, e.message), e.count) for e in errors if e.node == name]
        assert found == list(expected[name].items()), name


def test_per_event_errors_are_recorded_offline_once_per_event() -> None:
    spine = pl.DataFrame({"user_id": ["u1", "u2"], "as_of": [T0 + timedelta(hours=1)] * 2})
    outputs = ["unit_price_sum_1h", "unit_price_count_1d", "checked_units", "last_log_amount"]
    result = fdag.FrameDriver(DAG, outputs).evaluate(spine, sources={"payments": pl.DataFrame(EVENTS)})
    assert result.table.select(outputs).to_dicts() == [
        {"unit_price_sum_1h": -2.0 / -3, "unit_price_count_1d": 1, "checked_units": 0, "last_log_amount": None},
        {"unit_price_sum_1h": 2.0, "unit_price_count_1d": 1, "checked_units": 2, "last_log_amount": None},
    ]
    assert sorted(result.errors, key=str) == sorted(EVENT_ERRORS, key=str)


def test_per_event_errors_are_in_the_ingest_report(new_store: Callable[[], Store]) -> None:
    """Ingest and bootstrap count the errors of every event they are given, as the offline engine counts every
    row of its events frame, in both stores alike."""
    def driver() -> fdag.RowDriver:
        return fdag.RowDriver(DAG, ["unit_price_sum_1h", "checked_units", "last_log_amount"], store=new_store())

    report = driver().ingest("payments", EVENTS)
    assert (report.accepted, report.duplicates) == (4, 1)
    assert sorted(report.errors, key=str) == sorted(EVENT_ERRORS, key=str)
    assert sorted(driver().bootstrap("payments", pl.DataFrame(EVENTS)).errors, key=str) == sorted(EVENT_ERRORS,
                                                                                                   key=str)
    row = driver()
    first, second = row.ingest("payments", EVENTS[:2]), row.ingest("payments", EVENTS[2:])
    assert records([*first.errors, *second.errors]) == records(EVENT_ERRORS)
    vec = row.get({"user_id": "u2"}, T0 + timedelta(hours=1))
    assert (vec["unit_price_sum_1h"], vec["checked_units"], vec["last_log_amount"]) == (2.0, 2, None)
    assert vec.errors == []  # the event's errors were reported when it arrived, not per request


def test_a_store_report_without_errors_is_unchanged() -> None:
    report = fdag.RowDriver(DAG, ["unit_price_sum_1h"]).ingest("payments", EVENTS[2])
    assert report.errors == () and report.accepted == 1


def test_check_compares_error_records_of_features_and_per_event_functions() -> None:
    fdag.check(DAG, examples=80, seed=1)


OVERFLOWING = [{"pid": f"p{i}", "user_id": "u1", "ts": T0 + timedelta(minutes=i), "amount": 1.0, "units": 2**62}
               for i in range(3)]


def test_an_int_window_sum_beyond_int64_is_an_error_online() -> None:
    """Like a feature's int result: null, and an error recorded under the window node (per request)."""
    outputs = ["units_sum_1h", "units_max_1h"]
    row = fdag.RowDriver(fdag.Dag.from_modules(sums), outputs)
    row.ingest("payments", OVERFLOWING)
    vec = row.get({"user_id": "u1"}, T0 + timedelta(minutes=30))
    assert vec.values == {"units_sum_1h": None, "units_max_1h": 2**62}
    assert vec.errors == [fdag.ErrorRecord("units_sum_1h", "OverflowError", "window value does not fit in int64")]
    assert row.get({"user_id": "u1"}, T0 + timedelta(microseconds=1))["units_sum_1h"] == 2**62
    strict = fdag.RowDriver(fdag.Dag.from_modules(sums), outputs, errors="raise")
    strict.ingest("payments", OVERFLOWING)
    with pytest.raises(fdag.FeatureError, match=r"feature 'units_sum_1h' \(.*\) raised OverflowError: window value "
                                                 r"does not fit in int64"):
        strict.get({"user_id": "u1"}, T0 + timedelta(minutes=30))


def test_an_int_window_sum_beyond_int64_is_an_error_offline() -> None:
    instants = [T0 + timedelta(minutes=30), T0 + timedelta(microseconds=1)]
    spine = pl.DataFrame({"user_id": ["u1", "u1"], "as_of": instants})
    result = fdag.FrameDriver(fdag.Dag.from_modules(sums), ["units_sum_1h"]).evaluate(
        spine, sources={"payments": pl.DataFrame(OVERFLOWING)})
    assert result.table["units_sum_1h"].to_list() == [None, 2**62]
    assert list(result.errors) == [fdag.ErrorRecord("units_sum_1h", "OverflowError",
                                                    "window value does not fit in int64")]
