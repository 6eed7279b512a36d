"""Foreign values — numpy scalars, pd.NA / pd.NaT / NaN, pandas Timestamps, numpy datetime64, Decimal — mean the
same in requests, spines and events, online and offline: their Python equivalents, null, instants to the µs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fdag
from fdag.errors import FdagError, InputTypeError, SourceError
from tests.resources import foreign

DAG = fdag.Dag.from_modules(foreign)
SCALARS = ["n_seen", "x_seen", "flag_seen", "word_seen", "at_seen", "as_of_micros"]
WINDOWS = ["reading_sum_1h", "reading_count_1h", "counted", "healthy", "latest_reading_at"]
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)
NS = "2024-03-01 12:00:00.000001999"  # 1.999 µs after T0: truncated to 1 µs
INPUTS = ("n", "x", "flag", "word", "at")


def online(requests: list[dict[str, Any]], outputs: list[str], row: fdag.RowDriver | None = None
           ) -> list[dict[str, Any]] | type[BaseException]:
    """Each request through RowDriver.get, or the class of the first error."""
    row = row or fdag.RowDriver(DAG, outputs)
    try:
        return [dict(row.get({k: v for k, v in r.items() if k != "as_of"}, r["as_of"]).values) for r in requests]
    except FdagError as exc:
        return type(exc)


def offline(requests: list[dict[str, Any]], outputs: list[str], sources: dict[str, Any] | None = None
            ) -> list[dict[str, Any]] | type[BaseException]:
    """All requests as one pandas spine of object columns (the values exactly as given), or the error class."""
    spine = pd.DataFrame({c: pd.Series([r[c] for r in requests], dtype=object) for c in requests[0]})
    try:
        return fdag.FrameDriver(DAG, outputs).run(spine, sources=sources).select(outputs).to_dicts()
    except FdagError as exc:
        return type(exc)


def test_numpy_and_pandas_request_values_are_their_python_equivalents() -> None:
    request = {"n": np.int32(7), "x": np.float32(0.5), "flag": np.bool_(True), "word": np.str_("hé"),
               "at": pd.Timestamp(NS, tz="Europe/Paris")}
    want = {"n_seen": "int:7", "x_seen": "float:0.5", "flag_seen": "bool:True", "word_seen": "str:hé",
            "at_seen": f"datetime:{(pd.Timestamp(NS, tz='Europe/Paris').value // 1000)}:UTC"}
    got = fdag.RowDriver(DAG, list(want)).get(request, pd.Timestamp(NS)).values
    assert got == want
    as_of = fdag.RowDriver(DAG, ["as_of_micros"]).get({}, np.datetime64(NS)).values["as_of_micros"]
    assert as_of == (T0 - foreign.EPOCH) // timedelta(microseconds=1) + 1  # 1.999 µs -> 1 µs


@pytest.mark.parametrize("missing", [None, pd.NA, pd.NaT, np.nan, float("nan"), np.float64("nan")],
                         ids=["None", "NA", "NaT", "np.nan", "nan", "float64-nan"])
def test_missing_markers_are_null_in_every_column(missing: Any) -> None:
    row = fdag.RowDriver(DAG, SCALARS[:5])
    want = {"n_seen": "NoneType:None", "x_seen": "NoneType:None", "flag_seen": "NoneType:None",
            "word_seen": "NoneType:None", "at_seen": "None"}
    assert row.get(dict.fromkeys(INPUTS, missing), T0).values == want
    requests = [{**dict.fromkeys(INPUTS, missing), "as_of": T0}]
    assert offline(requests, SCALARS[:5]) == [want]
    with pytest.raises(InputTypeError, match=r"input 'as_of' is a .*, not a datetime"):
        row.get({}, pd.NaT)


def test_decimal_is_a_float_in_both_engines_and_refused_elsewhere() -> None:
    cases = [Decimal("0.1"), Decimal("12345678901234567.89"), Decimal("-1E-300"), Decimal("NaN")]
    requests = [{"x": d, "as_of": T0} for d in cases]
    want = [{"x_seen": "float:0.1"}, {"x_seen": "float:1.2345678901234568e+16"}, {"x_seen": "float:-1e-300"},
            {"x_seen": "NoneType:None"}]
    assert online(requests, ["x_seen"]) == want == offline(requests, ["x_seen"])
    polars_spine = pl.DataFrame({"x": cases[:2], "as_of": [T0, T0]})  # a Polars Decimal column
    assert fdag.FrameDriver(DAG, ["x_seen"]).run(polars_spine).select("x_seen").to_dicts() == want[:2]
    for column in ("n", "word", "flag", "at"):
        requests = [{column: Decimal("1"), "as_of": T0}]
        outputs = [f"{column}_seen"]
        assert online(requests, outputs) is InputTypeError is offline(requests, outputs)


def test_spine_and_sources_may_be_parquet_paths(tmp_path: Path) -> None:
    spine = pl.DataFrame({"sensor": ["s1", "s2"], "as_of": [T0 + timedelta(minutes=5)] * 2})
    events = pl.DataFrame({"rid": ["r1", "r2"], "sensor": ["s1", "s1"], "ts": [T0, T0 + timedelta(minutes=1)],
                           "value": [1.5, 2.0], "count": [1, 2], "ok": [True, None]})
    spine.write_parquet(tmp_path / "spine.parquet")
    events.write_parquet(tmp_path / "events.parquet")
    frame = fdag.FrameDriver(DAG, ["reading_sum_1h", "counted"])
    want = frame.run(spine, sources={"readings": events}).to_dicts()
    assert frame.run(str(tmp_path / "spine.parquet"), sources={"readings": tmp_path / "events.parquet"}
                     ).to_dicts() == want
    with pytest.raises(fdag.InputError, match=r"spine"):
        frame.run(tmp_path / "absent.parquet", sources={"readings": events})


def foreign_events() -> list[dict[str, Any]]:
    """Events holding numpy scalars, pandas Timestamps with nanoseconds, datetime64 and missing markers."""
    return [
        {"rid": "r1", "sensor": np.str_("s1"), "ts": pd.Timestamp(NS), "value": np.float64(1.5),
         "count": np.int64(2), "ok": np.bool_(True)},
        {"rid": "r2", "sensor": "s1", "ts": np.datetime64("2024-03-01T12:10:00.000000999"), "value": pd.NA,
         "count": np.int8(3), "ok": pd.NA},
        {"rid": "r3", "sensor": "s1", "ts": pd.Timestamp("2024-03-01 12:20"), "value": np.nan, "count": None,
         "ok": np.bool_(False)},
    ]


def test_events_with_foreign_values_online_and_offline() -> None:
    events = foreign_events()
    asks = [{"sensor": "s1", "as_of": T0 + timedelta(minutes=m)} for m in (0, 11, 30)]
    asks.insert(1, {"sensor": "s1", "as_of": T0 + timedelta(microseconds=2)})
    as_dicts = fdag.RowDriver(DAG, WINDOWS)
    as_dicts.ingest("readings", events)
    as_pandas = fdag.RowDriver(DAG, WINDOWS)
    frame = pd.DataFrame({c: pd.Series([e[c] for e in events], dtype=object) for c in events[0]})
    assert as_pandas.ingest("readings", frame).accepted == 3
    want = [
        {"reading_sum_1h": 0.0, "reading_count_1h": 0, "counted": 0, "healthy": 0, "latest_reading_at": None},
        {"reading_sum_1h": 1.5, "reading_count_1h": 1, "counted": 2, "healthy": 1,  # r1 at T0 + 1.999 µs -> 1 µs
         "latest_reading_at": T0 + timedelta(microseconds=1)},
        {"reading_sum_1h": 1.5, "reading_count_1h": 1, "counted": 5, "healthy": 1,  # r2: 999 ns dropped
         "latest_reading_at": datetime(2024, 3, 1, 12, 10, tzinfo=UTC)},
        {"reading_sum_1h": 1.5, "reading_count_1h": 1, "counted": 5, "healthy": 2,
         "latest_reading_at": datetime(2024, 3, 1, 12, 20, tzinfo=UTC)},
    ]
    assert online(asks, WINDOWS, as_dicts) == want == online(asks, WINDOWS, as_pandas)
    assert offline(asks, WINDOWS, {"readings": frame}) == want
    loaded = fdag.RowDriver(DAG, WINDOWS)
    assert loaded.bootstrap("readings", frame).accepted == 3
    assert online(asks, WINDOWS, loaded) == want


def test_pandas_events_with_native_dtypes_are_truncated_to_the_microsecond() -> None:
    frame = pd.DataFrame({"rid": ["a", "b"], "sensor": ["s1", "s1"],
                          "ts": pd.to_datetime([NS, "2024-03-01 12:00:00.000002001"]),
                          "value": [1.0, np.nan], "count": pd.array([1, None], dtype="Int64"), "ok": [True, False]})
    row = fdag.RowDriver(DAG, ["latest_reading_at", "reading_count_1h", "counted"])
    assert row.ingest("readings", frame).accepted == 2
    assert row.get({"sensor": "s1"}, T0 + timedelta(microseconds=2)).values == {
        "latest_reading_at": T0 + timedelta(microseconds=1), "reading_count_1h": 1, "counted": 1}


def test_a_bad_foreign_event_names_its_index_and_column() -> None:
    events = foreign_events()
    events[2]["count"] = np.float64(2.5)
    with pytest.raises(SourceError, match=r"^source 'readings' event 2: column 'count' holds a float64 \(.*2\.5.*\) "
                                          r"but the type is 'int'"):
        fdag.RowDriver(DAG, WINDOWS).ingest("readings", events)
    events[2]["count"], events[1]["sensor"] = 1, pd.NA
    with pytest.raises(SourceError, match=r"event 1: column 'sensor' is null"):
        fdag.RowDriver(DAG, WINDOWS).ingest("readings", events)


# ------------------------------------------------------------------------------------------- generated values

def _instants(aware: bool) -> st.SearchStrategy[Any]:
    """An instant as a datetime, a nanosecond pandas Timestamp or (naive) a numpy datetime64; all naive or all
    aware, since a spine column mixing the two is refused (``test_a_spine_column_mixing_clocks_is_refused``)."""
    ns = st.integers(-(2**62), 2**62)  # about 1823 to 2116
    if not aware:
        return st.one_of(ns.map(lambda v: pd.Timestamp(v, unit="ns")), ns.map(lambda v: np.datetime64(v, "ns")),
                         st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1)))
    zones = st.sampled_from(["UTC", "Europe/Paris", "America/St_Johns"])
    return st.one_of(st.builds(lambda v, tz: pd.Timestamp(v, unit="ns", tz=tz), ns, zones),
                     st.datetimes(datetime(1900, 1, 1), datetime(2100, 1, 1),
                                  timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3, minutes=-30))])))


MISSING = st.sampled_from([None, pd.NA, pd.NaT, np.nan])
FOREIGN: dict[str, st.SearchStrategy[Any]] = {
    "n": st.one_of(MISSING, st.integers(-(2**63), 2**63 - 1).map(np.int64), st.integers(-128, 127).map(np.int8),
                   st.integers(0, 2**32 - 1).map(np.uint32), st.integers(-10, 10),
                   st.sampled_from([np.float64(2.0), np.bool_(True), Decimal("3"), "4"])),
    "x": st.one_of(MISSING, st.floats(allow_nan=True).map(np.float64), st.floats(width=32).map(np.float32),
                   st.integers(-(2**63), 2**63 - 1).map(np.int64), st.floats(allow_nan=False),
                   st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=-10**12, max_value=10**12),
                   st.sampled_from([np.bool_(False), True, "1.5"])),
    "flag": st.one_of(MISSING, st.booleans().map(np.bool_), st.booleans(), st.sampled_from([np.int64(1), 0])),
    "word": st.one_of(MISSING, st.text(max_size=4).map(np.str_), st.text(max_size=4),
                      st.sampled_from([np.int64(1), Decimal("1")])),
}


def _requests(aware: bool) -> st.SearchStrategy[list[dict[str, Any]]]:
    odd = st.sampled_from([np.float64(1.0), "2024-01-01"])
    row = st.fixed_dictionaries({**FOREIGN, "at": st.one_of(MISSING, _instants(aware), odd),
                                 "as_of": _instants(aware)})
    return st.lists(row, min_size=1, max_size=4)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.booleans().flatmap(_requests), st.sets(st.sampled_from(INPUTS), min_size=1))
def test_generated_foreign_values_agree_online_and_offline(requests: list[dict[str, Any]], used: set[str]) -> None:
    """Identical features, or the identical error class, whatever foreign values requests and spine hold."""
    outputs = [f"{name}_seen" for name in sorted(used)] + ["as_of_micros"]
    requests = [{k: v for k, v in r.items() if k in used or k == "as_of"} for r in requests]
    assert online(requests, outputs) == offline(requests, outputs)


def test_a_spine_column_mixing_clocks_is_refused() -> None:
    requests = [{"at": pd.Timestamp(NS), "as_of": T0}, {"at": pd.Timestamp(NS, tz="UTC"), "as_of": T0}]
    assert offline(requests, ["at_seen"]) is InputTypeError
    with pytest.raises(InputTypeError, match=r"input 'at' holds values of mixed .*naive and aware instants"):
        fdag.FrameDriver(DAG, ["at_seen"]).run(pd.DataFrame({c: pd.Series([r[c] for r in requests], dtype=object)
                                                             for c in requests[0]}))
