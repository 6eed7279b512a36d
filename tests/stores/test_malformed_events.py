"""Bad input to ingest and bootstrap is all or nothing and named: a valid batch with one corrupted event (or a
history frame with one corrupted column or row) raises a SourceError naming the source, the event and the column,
and leaves the state exactly as it was — MemoryStore and RedisStore alike."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import fdag
from fdag._stores.protocol import Store
from fdag._stores.redis import RedisStore
from fdag.errors import FdagError, SourceError
from tests.resources import foreign

DAG = fdag.Dag.from_modules(foreign)
OUTPUTS = ["reading_sum_1h", "reading_count_1h", "counted", "healthy", "latest_reading_at"]
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
TICK = timedelta(microseconds=1)
SENSORS = ["s1", "s2", "s3"]
SCHEMA = {c: t.polars for c, t in foreign.readings.schema.items()}
COLUMNS = list(SCHEMA)  # rid, sensor, ts, value, count, ok: every one is read

# Values each column's type refuses (or, for roles, null): (column, value) pairs.
BAD_VALUES: list[tuple[str, Any]] = [
    ("sensor", None), ("sensor", pd.NA), ("sensor", 7), ("sensor", 1.5), ("sensor", ["s1"]), ("sensor", True),
    ("ts", None), ("ts", pd.NaT), ("ts", float("nan")), ("ts", "2024-03-01T12:00:00+00:00"), ("ts", 1709294400),
    ("ts", date(2024, 3, 1)), ("ts", np.int64(5)),
    ("rid", None), ("rid", 12), ("rid", np.nan),
    ("value", "1.5"), ("value", True), ("value", np.bool_(True)), ("value", [1.0]), ("value", {"a": 1}),
    ("value", b"1"), ("value", 10**400), ("value", complex(1, 2)), ("value", "nan"),
    ("count", True), ("count", 1.5), ("count", "3"), ("count", 2**63), ("count", np.float64(1.0)),
    ("count", Decimal("1")), ("count", -(2**63) - 1),
    ("ok", 1), ("ok", "true"), ("ok", 0.0), ("ok", np.int8(1)),
]
NOT_EVENTS: list[Any] = [None, 5, "an event", [("rid", "x")], 2.5]


def event_strategy() -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({
        "sensor": st.sampled_from(SENSORS),
        "ts": st.integers(0, 120 * 60).map(lambda s: T0 + timedelta(seconds=s)),
        "value": st.none() | st.floats(-1e6, 1e6),
        "count": st.none() | st.integers(-1000, 1000),
        "ok": st.none() | st.booleans(),
    })


def batches(prefix: str) -> st.SearchStrategy[list[dict[str, Any]]]:
    """A valid batch, each event with a unique id."""
    return st.lists(event_strategy(), min_size=1, max_size=8).map(
        lambda events: [{"rid": f"{prefix}{i}", **e} for i, e in enumerate(events)])


@st.composite
def corrupted(draw: st.DrawFn) -> tuple[list[dict[str, Any]], int, str | None]:
    """A valid batch with one event corrupted: (batch, its index, the column named in the error or None)."""
    batch = draw(batches("n"))
    index = draw(st.integers(0, len(batch) - 1))
    kind = draw(st.sampled_from(["value", "drop", "not an event", "naive"] if len(batch) > 1
                                else ["value", "drop", "not an event"]))
    if kind == "value":
        column, value = draw(st.sampled_from(BAD_VALUES))
        batch[index] = {**batch[index], column: value}
    elif kind == "drop":
        column = draw(st.sampled_from(COLUMNS))
        batch[index] = {k: v for k, v in batch[index].items() if k != column}
    elif kind == "not an event":
        column = None
        batch[index] = draw(st.sampled_from(NOT_EVENTS))
    else:  # one naive timestamp among aware ones: the error is at the first event unlike event 0
        column = "ts"
        batch[index] = {**batch[index], "ts": batch[index]["ts"].replace(tzinfo=None)}
        index = -1
    return batch, index, column


def snapshot(row: fdag.RowDriver) -> Any:
    """Everything observable about the state: watermark, held events, every feature at the watermark and, for
    Redis, every key of the namespace byte for byte."""
    watermark = row.watermark("readings")
    values = [row.get({"sensor": s}, watermark + TICK).values for s in SENSORS] if watermark else None
    keys = None
    if isinstance(row.store, RedisStore):
        client = row.store.client
        keys = {name: client.dump(name) for name in sorted(client.keys(f"{row.store.namespace}:*"))}
    return watermark, row.held("readings"), values, keys


def check_refused(row: fdag.RowDriver, load: Any, batch: Any, index: int, column: str | None) -> None:
    before = snapshot(row)
    with pytest.raises(FdagError) as caught:
        load(row, batch)
    error = caught.value
    assert isinstance(error, SourceError), repr(error)
    text = str(error)
    assert text.startswith("source 'readings' ") and "Hint: " in text, text
    if index >= 0:
        assert f"event {index}:" in text or f"row {index}:" in text, text
    if column is not None:
        assert f"'{column}'" in text, text
    assert snapshot(row) == before


def fresh(new_store: Callable[[], Store]) -> fdag.RowDriver:
    return fdag.RowDriver(DAG, OUTPUTS, store=new_store())


def ingest(row: fdag.RowDriver, batch: Any) -> Any:
    return row.ingest("readings", batch)


def bootstrap_rows(row: fdag.RowDriver, batch: Any) -> Any:
    """Bootstrap from the batch as a pandas frame of object columns (values exactly as given)."""
    if not all(isinstance(e, dict) for e in batch):
        return row.bootstrap("readings", batch)
    return row.bootstrap("readings", pd.DataFrame({c: pd.Series([e.get(c) for e in batch], dtype=object)
                                                    for c in {c for e in batch for c in e}}))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(batches("b"), corrupted())
def test_ingest_refuses_a_corrupted_batch_whole(new_store: Callable[[], Store], base: list[dict[str, Any]],
                                                bad: tuple[Any, int, str | None]) -> None:
    row = fresh(new_store)
    row.ingest("readings", base)
    check_refused(row, ingest, *bad)


# ---------------------------------------------------------------------------------------------- bootstrap

@st.composite
def corrupted_frames(draw: st.DrawFn) -> tuple[pl.DataFrame, int, str | None]:
    """A valid history frame with one column or one row corrupted, and the row and column the error names."""
    batch = draw(batches("h"))
    frame = pl.DataFrame(batch, schema=SCHEMA)
    column = draw(st.sampled_from(COLUMNS))
    kind = draw(st.sampled_from(["drop", "null role", "retype"]))
    row = draw(st.integers(0, frame.height - 1))
    if kind == "drop":
        return frame.drop(column), -1, column
    if kind == "null role":
        column = draw(st.sampled_from(["rid", "sensor", "ts"]))
        nulled = pl.when(pl.int_range(pl.len()) == row).then(None).otherwise(pl.col(column)).alias(column)
        return frame.with_columns(nulled), row, column
    if column in ("rid", "sensor"):  # ints where strings are declared
        retyped = pl.int_range(pl.len(), dtype=pl.Int64).alias(column)
    elif column == "count":  # a bool where an int is declared, in at least one row
        retyped = pl.when(pl.int_range(pl.len()) == row).then(True).otherwise(pl.col(column) > 0).alias(column)
    else:  # strings where a float, bool or datetime is declared
        retyped = pl.col(column).cast(pl.String)
    if column in ("value", "ok") and frame.get_column(column).null_count() == frame.height:
        return frame.drop(column), -1, column  # an all-null column of any dtype is just nulls: drop it instead
    return frame.with_columns(retyped), -1, column


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(batches("b"), corrupted_frames())
def test_bootstrap_refuses_a_corrupted_frame_whole(new_store: Callable[[], Store], base: list[dict[str, Any]],
                                                   bad: tuple[pl.DataFrame, int, str | None]) -> None:
    row = fresh(new_store)
    row.bootstrap("readings", pl.DataFrame(base, schema=SCHEMA))
    check_refused(row, lambda r, f: r.bootstrap("readings", f), *bad)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(batches("b"), corrupted())
def test_bootstrap_refuses_corrupted_rows_whole(new_store: Callable[[], Store], base: list[dict[str, Any]],
                                                bad: tuple[Any, int, str | None]) -> None:
    batch, index, column = bad
    # In a frame, a value missing from one row is a null (a missing column is refused, in the frame tests).
    assume(not (isinstance(batch[index], dict) and column not in batch[index] and column in ("value", "count", "ok")))
    row = fresh(new_store)
    row.ingest("readings", base)
    before = snapshot(row)
    with pytest.raises(FdagError) as caught:
        bootstrap_rows(row, batch)
    assert isinstance(caught.value, SourceError), repr(caught.value)
    assert str(caught.value).startswith("source 'readings' ") and "Hint: " in str(caught.value)
    assert snapshot(row) == before


@pytest.mark.parametrize("batch", [5, None, object()], ids=["int", "None", "object"])
def test_a_batch_that_is_not_events_is_a_source_error(batch: Any) -> None:
    row = fdag.RowDriver(DAG, OUTPUTS)
    with pytest.raises(SourceError, match=r"^source 'readings' "):
        row.ingest("readings", batch)
    with pytest.raises(SourceError, match=r"^source 'readings' "):
        row.bootstrap("readings", batch)
    assert row.watermark("readings") is None


def test_naive_and_aware_timestamps_in_one_batch_are_refused() -> None:
    row = fdag.RowDriver(DAG, OUTPUTS)
    events = [{"rid": "a", "sensor": "s1", "ts": T0, "value": 1.0, "count": 1, "ok": True},
              {"rid": "b", "sensor": "s1", "ts": datetime(2024, 3, 1, 13), "value": 1.0, "count": 1, "ok": True}]
    with pytest.raises(SourceError, match=r"^source 'readings' event 1: column 'ts' is naive \(no time zone\) but "
                                          r"event 0's is aware in .*Hint: give every timestamp of a batch a time"):
        row.ingest("readings", events)
    assert row.watermark("readings") is None
    row.ingest("readings", events[:1])
    row.ingest("readings", events[1:])  # separate batches: each read by the rule (naive is UTC)
    assert row.watermark("readings") == datetime(2024, 3, 1, 13, tzinfo=UTC)
