"""Every public entry point, fed malformed input, raises an fdag error (an ``FdagError``) and nothing else; the
entry points that change state (ingest, bootstrap, materialize) then leave it exactly as it was.

The store-level fuzzers (tests/stores/test_malformed_events.py) corrupt one event of a valid batch; these ones go in
through the drivers, with wrong types everywhere a caller can put one. A call may also succeed (a generated
value can be valid): the property is only that a failure is always an fdag error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fdag
from fdag.demo import fraud
from fdag.errors import FdagError
from tests.budget import examples
from tests.resources import snapshots, tiny

FRAUD = fdag.Dag.from_modules(fraud)
SNAPSHOTS = fdag.Dag.from_modules(snapshots)
TINY = fdag.Dag.from_modules(tiny)
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
FAST = settings(max_examples=examples(250), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])


def _quietly(call: Callable[[], Any]) -> BaseException | None:
    """What ``call`` raised (None if it returned); only an ``FdagError`` may be raised."""
    try:
        call()
    except FdagError as exc:
        assert str(exc) and " Hint: " in str(exc), repr(exc)
        return exc
    return None


# Values of every kind a caller might pass where a value is expected.
INSTANTS = st.sampled_from([
    T0, datetime(2024, 3, 1), datetime.min, datetime.max, datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=9))),
    datetime.max.replace(tzinfo=timezone(timedelta(hours=-5))),  # beyond year 9999 in UTC
    datetime.min.replace(tzinfo=timezone(timedelta(hours=5))),  # before year 1 in UTC
    pd.Timestamp("2024-03-01 12:00:00.000000001", tz="Europe/Paris"), pd.NaT, np.datetime64("2024-03-01T12:00"),
    np.datetime64("NaT"), date(2024, 3, 1),
])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.sampled_from([2**63, -(2**63) - 1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=5), st.binary(max_size=5), INSTANTS,
    st.sampled_from([timedelta(days=-1), Decimal("NaN"), Decimal("1e999"), complex(1, 2), pd.NA, np.float64("nan"),
                     np.int64(7), np.bool_(True), np.longdouble(1.5), np.array([1.0, 2.0]), np.array(3.0),
                     object(), frozenset({1}), range(3), Ellipsis, pl.Series([1]), pl.DataFrame({"a": [1]})]),
)
JUNK = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3) | st.tuples(inner)
                    | st.dictionaries(st.one_of(st.text(max_size=3), st.integers(), st.none()), inner, max_size=3),
                    max_leaves=6)
INPUT_NAMES = ["user_id", "amount", "merchant", "x", "y", "name", "account", "sku", "as_of"]


def requests() -> st.SearchStrategy[Any]:
    """Requests: mappings of input names (and other keys, not all str) to anything, or not mappings at all."""
    keys = st.sampled_from(INPUT_NAMES) | st.text(max_size=3) | st.integers() | st.none() | st.binary(max_size=2)
    return st.dictionaries(keys, JUNK, max_size=6) | JUNK


@FAST
@given(request=requests(), as_of=st.none() | INSTANTS | JUNK, errors=st.sampled_from(["null", "raise"]))
def test_row_driver_get(request: Any, as_of: Any, errors: str) -> None:
    for dag in (FRAUD, SNAPSHOTS, TINY):
        row = fdag.RowDriver(dag, errors=errors)  # type: ignore[arg-type]
        _quietly(lambda row=row: row.get(request, as_of))


@FAST
@given(batch=st.lists(requests(), max_size=3) | JUNK, as_of=st.none() | INSTANTS | st.lists(INSTANTS) | JUNK)
def test_row_driver_get_many(batch: Any, as_of: Any) -> None:
    row = fdag.RowDriver(FRAUD)
    _quietly(lambda: row.get_many(batch, as_of))


NAMES = st.sampled_from(["amount_vs_mean_10d", "spend_sum_1h", "amount", "as_of", "balance_in_units", "nope"]) | JUNK


@FAST
@given(request=requests(), name=NAMES, as_of=st.none() | INSTANTS | JUNK)
def test_row_driver_provenance(request: Any, name: Any, as_of: Any) -> None:
    for dag in (FRAUD, SNAPSHOTS):
        row = fdag.RowDriver(dag)
        _quietly(lambda row=row: row.provenance(request, name, as_of))


# ------------------------------------------------------------------------------------------------ frames

def _column(name: str, rows: int) -> st.SearchStrategy[pl.Series | None]:
    """A spine or events column: absent (None), well typed with nulls, or of another dtype."""
    utc = pl.Datetime("us", "UTC")
    instants, floats = [T0 - timedelta(hours=1), None, T0 + timedelta(days=1)], [1.5, float("nan"), None]
    texts, ints = ["u1", None, "u2"], [1, None, 2]
    typed = pl.Series(name, *{
        "user_id": (texts, pl.String), "merchant": (texts, pl.String), "txn_id": (texts, pl.String),
        "name": (texts, pl.String), "tier": (texts, pl.String), "sku": (texts, pl.String),
        "amount": (floats, pl.Float64), "y": (floats, pl.Float64), "balance": (floats, pl.Float64),
        "price": (floats, pl.Float64), "x": (ints, pl.Int64), "account": (ints, pl.Int64),
        "snap_id": (ints, pl.Int64), "as_of": (instants, utc), "ts": (instants, utc),
        "event_timestamp": (instants, utc), "at": (instants, utc),
    }[name])[:rows]
    others = [
        pl.Series(name, [1, 2, 3][:rows], dtype=pl.Int64), pl.Series(name, ["a", "b", "c"][:rows], dtype=pl.String),
        pl.Series(name, [True, None, False][:rows], dtype=pl.Boolean),
        pl.Series(name, [2**64 - 1] * rows, dtype=pl.UInt64), pl.Series(name, [[1], [2], None][:rows],
                                                                         dtype=pl.List(pl.Int64)),
        pl.Series(name, [None] * rows, dtype=pl.Null), pl.Series(name, [date(2024, 3, 1)] * rows, dtype=pl.Date),
        pl.Series(name, [{"a": 1}] * rows, dtype=pl.Struct({"a": pl.Int64})),
        typed.cast(pl.String) if typed.dtype != pl.String else pl.Series(name, [1.0] * rows, dtype=pl.Float64),
        pl.Series(name, [T0] * rows, dtype=utc).dt.convert_time_zone("Asia/Tokyo"),
        pl.Series(name, [datetime(2024, 3, 1)] * rows, dtype=pl.Datetime("ns")),
        pl.Series(name, [timedelta(1)] * rows, dtype=pl.Duration("us")),
        pl.Series(name, [T0] * rows, dtype=utc).dt.offset_by("8000y"),  # beyond Python's datetime, not Polars'
    ]
    return st.none() | st.just(typed) | st.sampled_from(others)


def frames(columns: list[str]) -> st.SearchStrategy[Any]:
    """Frames of ``columns`` (each maybe missing or mistyped), as Polars, pandas or Arrow, or not a frame at all."""
    def build(rows: int) -> st.SearchStrategy[Any]:
        chosen = st.tuples(*(_column(c, rows) for c in columns))
        frame = chosen.map(lambda series: pl.DataFrame([s for s in series if s is not None]))
        return frame.flatmap(lambda f: st.sampled_from([f, f.lazy(), _pandas(f), f.to_arrow()]))
    return st.integers(0, 3).flatmap(build) | JUNK | st.sampled_from(["no such.parquet", Path("/"), b"bytes"])


def _pandas(frame: pl.DataFrame) -> Any:
    try:
        return frame.to_pandas()
    except Exception:  # a dtype pandas cannot hold: the Polars frame stands in
        return frame


def mixed_time_zones() -> pd.DataFrame:
    """A pandas spine whose as_of mixes time zones (an object column)."""
    return pd.DataFrame({"user_id": ["u1", "u2"], "amount": [1.0, 2.0], "merchant": ["m", "m"],
                         "as_of": [T0, datetime(2024, 3, 1, tzinfo=timezone(timedelta(hours=2)))]}, dtype=object)


EVENT_COLUMNS = ["txn_id", "user_id", "ts", "amount", "merchant"]
EVENT_SCHEMA = {c: t.polars for c, t in fraud.transactions.schema.items()}


@settings(max_examples=examples(300), deadline=None)
@given(spine=frames(["user_id", "amount", "merchant", "as_of"]) | st.just(mixed_time_zones()),
       sources=st.dictionaries(st.sampled_from(["transactions", "other"]), frames(EVENT_COLUMNS), max_size=2)
       | JUNK, as_of=st.sampled_from(["as_of", "ts", 3]), errors=st.sampled_from(["null", "raise"]))
def test_frame_driver_evaluate(spine: Any, sources: Any, as_of: Any, errors: str) -> None:
    frame = fdag.FrameDriver(FRAUD, ["amount_vs_mean_10d", "burst_ratio", "hour_of_day"], errors=errors)  # type: ignore[arg-type]
    _quietly(lambda: frame.evaluate(spine, sources, as_of=as_of))


@settings(max_examples=200, deadline=None)
@given(spine_row=requests() | frames(["user_id", "amount", "merchant", "as_of"]), name=NAMES,
       sources=st.dictionaries(st.sampled_from(["transactions", "other"]), frames(EVENT_COLUMNS), max_size=2) | JUNK,
       as_of=st.sampled_from(["as_of", "ts"]) | JUNK)
def test_frame_driver_provenance(spine_row: Any, name: Any, sources: Any, as_of: Any) -> None:
    frame = fdag.FrameDriver(FRAUD, ["amount_vs_mean_10d", "burst_ratio", "hour_of_day"])
    _quietly(lambda: frame.provenance(spine_row, name, sources, as_of=as_of))


def test_a_provenance_spine_row_beyond_year_9999_is_an_input_error() -> None:
    """Found by test_frame_driver_provenance: polars holds instants Python's datetime cannot (a raw OverflowError)."""
    row = pl.DataFrame({"user_id": ["u1"], "amount": [1.0], "merchant": ["m"],
                        "as_of": pl.Series([2**62], dtype=pl.Datetime("us", "UTC"))})
    with pytest.raises(fdag.InputError, match=r"^input 'spine_row' holds a value Python cannot represent .*Hint: keep"):
        fdag.FrameDriver(FRAUD, ["hour_of_day"]).provenance(row, "hour_of_day")


SNAPSHOT_COLUMNS = {"accounts": ["snap_id", "account", "event_timestamp", "balance", "tier"],
                    "prices": ["sku", "at", "price"]}


@settings(max_examples=examples(250), deadline=None)
@given(tiny_spine=frames(["x", "y", "name", "as_of"]), snapshot_spine=frames(["account", "sku", "as_of"]),
       sources=st.fixed_dictionaries({name: frames(columns) for name, columns in SNAPSHOT_COLUMNS.items()}) | JUNK)
def test_frame_driver_evaluate_ints_and_lookups(tiny_spine: Any, snapshot_spine: Any, sources: Any) -> None:
    _quietly(lambda: fdag.FrameDriver(TINY).evaluate(tiny_spine))
    _quietly(lambda: fdag.FrameDriver(SNAPSHOTS).evaluate(snapshot_spine, sources))


# ------------------------------------------------------------------------------ constructors and the DAG

OUTPUTS = st.none() | st.sampled_from(["spend_sum_1h", "nope", ["burst_ratio"], ["ratoi"], [], [3], 3, [["x"]]]) | JUNK


@FAST
@given(outputs=OUTPUTS, store=st.none() | st.sampled_from([fdag.MemoryStore(), object(), "memory"]) | JUNK,
       errors=st.sampled_from(["null", "raise", "maybe", None, 1]), log=st.none() | JUNK)
def test_driver_constructors(outputs: Any, store: Any, errors: Any, log: Any) -> None:
    _quietly(lambda: fdag.RowDriver(FRAUD, outputs, store=store, errors=errors, log=log))
    _quietly(lambda: fdag.FrameDriver(FRAUD, outputs, errors=errors))
    _quietly(lambda: fdag.RowDriver(outputs))  # not a Dag
    _quietly(lambda: FRAUD.to_dot(outputs))


@FAST
@given(modules=st.lists(st.sampled_from([fraud, tiny, "fdag.demo.fraud", None, 3, fdag, math]) | JUNK, max_size=3))
def test_dag_from_modules(modules: list[Any]) -> None:
    _quietly(lambda: fdag.Dag.from_modules(*modules))


# -------------------------------------------------------------------------------------------- backfills

def _spine() -> pl.DataFrame:
    return pl.DataFrame({"user_id": ["u1", "u2"], "amount": [1.0, 2.0], "merchant": ["m", "n"],
                         "as_of": [T0, T0 + timedelta(days=1)]})


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=st.sampled_from(["dir", "file", "under_file", "int", "none"]),
       partition_by=st.sampled_from(["day", "user_id", "country", 3, None]),
       engine=st.sampled_from(["local", "spark", 1]), spine=st.just(_spine()) | frames(["user_id", "as_of"]),
       sources=st.just({"transactions": pl.DataFrame(schema=EVENT_SCHEMA)}) | JUNK)
def test_backfill(tmp_path: Path, where: str, partition_by: Any, engine: Any, spine: Any, sources: Any) -> None:
    (tmp_path / "a_file").write_text("not a directory")
    path = {"dir": tmp_path / "out", "file": tmp_path / "a_file", "under_file": tmp_path / "a_file" / "out",
            "int": 3, "none": None}[where]
    frame = fdag.FrameDriver(FRAUD, ["spend_sum_1h"])
    _quietly(lambda: frame.backfill(spine, sources, path, partition_by=partition_by, engine=engine, progress=False))


# ------------------------------------------------------------------- ingest, bootstrap, materialize: all or nothing

def _history() -> pl.DataFrame:
    return pl.DataFrame({"txn_id": ["t1", "t2", "t3"], "user_id": ["u1", "u1", "u2"],
                         "ts": [T0 - timedelta(minutes=m) for m in (30, 20, 10)], "amount": [1.0, 2.0, 3.0],
                         "merchant": ["m", "n", "m"]})


def broken_histories() -> st.SearchStrategy[Any]:
    """The valid history with one column dropped, retyped or nulled in one row, or something that is no frame."""
    def corrupt(column: str, how: str) -> Any:
        frame = _history()
        if how == "drop":
            return frame.drop(column)
        if how == "null":
            return frame.with_columns(pl.when(pl.int_range(3) == 1).then(None).otherwise(pl.col(column)).alias(column))
        if how == "string":
            return frame.with_columns(pl.col(column).cast(pl.String))
        return frame.with_columns(pl.lit(2**64 - 1, dtype=pl.UInt64).alias(column))
    columns = st.sampled_from(["txn_id", "user_id", "ts", "amount"])
    broken = st.builds(corrupt, columns, st.sampled_from(["drop", "null", "string", "huge"]))
    return broken.flatmap(lambda f: st.sampled_from([f, _pandas(f), f.to_dicts()])) | JUNK \
        | st.sampled_from(["no such.parquet", Path("/")])


def _state(row: fdag.RowDriver, source: str) -> tuple[Any, ...]:
    return row.watermark(source), row.held(source)


@settings(max_examples=examples(300), deadline=None)
@given(history=broken_histories(), source=st.sampled_from(["transactions", fraud.transactions, "nope", 3, None]),
       how=st.sampled_from(["bootstrap", "materialize", "ingest"]))
def test_bootstrap_materialize_and_ingest_apply_nothing_when_they_fail(history: Any, source: Any, how: str) -> None:
    row = fdag.RowDriver(FRAUD)
    row.bootstrap("transactions", _history().head(1))
    before = _state(row, "transactions")
    if _quietly(lambda: getattr(row, how)(source, history)) is not None:
        assert _state(row, "transactions") == before


@settings(max_examples=examples(200), deadline=None)
@given(rows=st.lists(st.fixed_dictionaries({"snap_id": JUNK | st.integers(0, 9), "account": JUNK | st.integers(0, 3),
                                            "event_timestamp": INSTANTS, "balance": JUNK, "tier": JUNK}),
                     max_size=3) | JUNK,
       as_frame=st.booleans())
def test_materialize_of_a_snapshot_applies_nothing_when_it_fails(rows: Any, as_frame: bool) -> None:
    row = fdag.RowDriver(SNAPSHOTS, ["balance_now", "tier_upper"])
    row.materialize("accounts", [{"snap_id": 1, "account": 1, "event_timestamp": T0, "balance": 1.0, "tier": "a"}])
    before = _state(row, "accounts")
    snapshot = rows
    if as_frame and isinstance(rows, list):
        try:
            snapshot = pl.DataFrame(rows, strict=False)
        except (Exception, pl.exceptions.PanicException):  # Polars cannot build this frame: the rows go in as is
            snapshot = rows
    if _quietly(lambda: row.materialize("accounts", snapshot)) is not None:
        assert _state(row, "accounts") == before


# ------------------------------------------------------------------ what the fuzzers found, pinned with its message

def _fraud_events(**columns: Any) -> pl.DataFrame:
    return _history().with_columns(**columns)


WEST = timezone(-timedelta(hours=1))
FOUND: list[tuple[str, Callable[[], Any], type[FdagError], str]] = [
    ("a 0-d numpy array is no batch", lambda: fdag.RowDriver(FRAUD).get_many(np.array(3.0)),  # type: ignore[arg-type]
     fdag.InputError, r"^input 'requests' is a ndarray, not an iterable of requests\."),
    ("a 0-d numpy array is no list of outputs", lambda: fdag.RowDriver(FRAUD, np.array(3.0)),  # type: ignore[arg-type]
     fdag.DeclarationError, r"^outputs=array\(3\.\) is not a list of feature names\."),
    ("an array is no value", lambda: fdag.RowDriver(TINY, ["doubled"]).get({"x": np.array([1, 2])}),
     fdag.InputError, r"^input 'x' is a ndarray \(array\(\[1, 2\]\)\) but the type is 'int'\."),
    ("a longdouble has no Python equivalent", lambda: fdag.RowDriver(TINY, ["doubled"]).get({"x": np.longdouble(1)}),
     fdag.InputError, r"^input 'x' is a longdouble .* but the type is 'int'\."),
    ("an aware as_of beyond UTC's years",
     lambda: fdag.RowDriver(TINY, ["doubled"]).get({"x": 1}, datetime.max.replace(tzinfo=WEST)),
     fdag.InputError, r"^input 'as_of' is 9999-12-31T23:59:59\.999999-01:00, which is outside the UTC instants "
                      r"Python can hold \(years 1 to 9999\)\. Hint: pass a datetime"),
    ("rows Polars panics on", lambda: fdag.RowDriver(FRAUD).bootstrap("transactions", (Decimal("NaN"),)),
     fdag.SourceError, r"^source 'transactions' history cannot be read as a frame \(PanicException: .*\)\. "
                       r"Hint: pass a Polars"),
    ("an event that is a numpy scalar", lambda: fdag.RowDriver(FRAUD).ingest("transactions", (np.datetime64(0, "s"),)),
     fdag.SourceError, r"^source 'transactions' event 0: is a datetime64, not a mapping of column to value"),
    ("an event that is a frame", lambda: fdag.RowDriver(FRAUD).ingest("transactions", (pl.DataFrame({"a": [1]}),)),
     fdag.SourceError, r"^source 'transactions' event 0: is a DataFrame, not a mapping of column to value"),
    ("a history instant beyond Python's",
     lambda: fdag.RowDriver(FRAUD).bootstrap("transactions", _fraud_events(ts=pl.col("ts").dt.offset_by("8000y"))),
     fdag.SourceError, r"^source 'transactions' history row 0: column 'ts' is outside years 1 to 9999, which "
                       r"Python's datetime cannot hold\. Hint: drop or repair the row\.$"),
    ("a snapshot's instant beyond Python's inside a list",
     lambda: fdag.RowDriver(SNAPSHOTS, ["tier_upper"]).materialize("accounts", pl.DataFrame(
         {"snap_id": [0], "account": [0], "event_timestamp": [T0], "balance": [None],
          "tier": [[datetime.max.replace(tzinfo=timezone(-timedelta(hours=5)))]]})),
     fdag.SourceError, r"^source 'accounts' history row 0: column 'tier' is outside years 1 to 9999"),
    ("ingested instants beyond Python's",
     lambda: fdag.RowDriver(FRAUD).ingest("transactions", _fraud_events(ts=pl.col("ts").dt.offset_by("8000y"))),
     fdag.SourceError, r"^source 'transactions' event 0: column 'ts' is outside years 1 to 9999"),
    ("an unsigned int beyond int64 in a spine",
     lambda: fdag.FrameDriver(TINY, ["doubled"]).run(pl.DataFrame({"x": pl.Series([1, 2**64 - 1], dtype=pl.UInt64)})),
     fdag.InputError, r"^input 'x' holds 18446744073709551615 in the spine, which does not fit in int64\. Hint: "),
    ("a partition column of lists",
     lambda: fdag.FrameDriver(FRAUD, ["spend_sum_1h"]).backfill(_spine().with_columns(user_id=pl.lit([1])), {},
                                                               "unused", partition_by="user_id", progress=False),
     fdag.InputError, r"^input 'user_id' is a List\(Int64\) column in the spine, which cannot name partitions\."),
    ("a path that is not one", lambda: fdag.FrameDriver(TINY).backfill(_spine(), {}, 3),  # type: ignore[arg-type]
     fdag.InputError, r"^input 'path' is a int, not a path\. Hint: pass the directory to write"),
]


def test_what_the_fuzzers_found(tmp_path: Path, make_module: Callable[[str, str], ModuleType]) -> None:
    for what, call, kind, message in FOUND:
        raised = _quietly(call)
        assert isinstance(raised, kind), (what, raised)
        assert re.search(message, str(raised)), (what, str(raised))
    lists = make_module("fuzz_lists", "def total(values: list[int]) -> int:\n    return sum(values)\n")
    raised = _quietly(lambda: fdag.FrameDriver(fdag.Dag.from_modules(lists)).run(pl.DataFrame({"values": [["1"]]})))
    assert str(raised).startswith("input 'values' is a List(String) column in the spine but is declared 'list[int]'")
    (tmp_path / "a_file").write_text("in the way")
    raised = _quietly(lambda: fdag.FrameDriver(TINY).backfill(_spine(), {}, tmp_path / "a_file" / "out",
                                                              progress=False))
    assert isinstance(raised, fdag.InputError) and "which cannot be made a directory" in str(raised)
