"""Calls of pure helpers (``_private`` or ``@fdag.exclude``) are translated by inlining their bodies, exactly."""

from __future__ import annotations

import math
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from tests.resources import trips

AT = datetime(2024, 3, 1, tzinfo=UTC)
DAG = fdag.Dag.from_modules(trips)


def test_helpers_are_inlined_and_untranslatable_ones_are_named() -> None:
    explained = {e.node: str(e) for e in fdag.FrameDriver(DAG).explanations()}
    assert explained["trip_km"] == "trip_km: translated"
    assert explained["speed_kmh"] == "speed_kmh: translated"
    assert explained["recursive"].startswith("recursive: fallback (in helper '_countdown': ")
    assert "nested more than 8 deep" in explained["recursive"]
    assert explained["defaulted"] == ("defaulted: fallback (calls '_with_default', which has default arguments "
                                      "or a closure (not inlined))")
    assert set(DAG.nodes) == {"trip_km", "speed_kmh", "recursive", "defaulted"}  # helpers are not nodes


coordinates = st.floats(-90, 90, allow_nan=False)


@settings(max_examples=80, deadline=None)
@given(rows=st.lists(st.tuples(coordinates, coordinates, coordinates, coordinates,
                               st.one_of(st.none(), st.floats(-5, 600, allow_nan=False))), min_size=1, max_size=20))
def test_inlined_helpers_agree_with_python(rows: list[tuple[Any, ...]]) -> None:
    names = ["pickup_lat", "pickup_lon", "dropoff_lat", "dropoff_lon", "minutes"]
    requests = [dict(zip(names, r, strict=True)) for r in rows]
    outputs = ["trip_km", "speed_kmh"]
    result = fdag.FrameDriver(DAG, outputs).evaluate(pl.DataFrame(requests, schema_overrides={
        "minutes": pl.Float64}).with_columns(as_of=pl.lit(AT)))
    errors: Counter[tuple[str, str]] = Counter()
    for request, got in zip(requests, result.table.to_dicts(), strict=True):
        km = trips._haversine(*rows[requests.index(request)][:4])  # the helpers called by hand: the oracle
        assert math.isclose(got["trip_km"], km, rel_tol=1e-9, abs_tol=1e-12)  # floats agree to 1e-9 relative
        minutes = request["minutes"]
        try:
            want = None if minutes is None else trips.per_hour(km, minutes)
        except (ValueError, ZeroDivisionError) as exc:  # a subnormal minutes / 60 is 0.0
            want = None
            errors[type(exc).__name__, str(exc)] += 1
        assert got["speed_kmh"] is None if want is None else math.isclose(got["speed_kmh"], want, rel_tol=1e-9,
                                                                          abs_tol=1e-12)
    assert sorted((e.node, e.type, e.message, e.count) for e in result.errors) == sorted(
        ("speed_kmh", kind, message, count) for (kind, message), count in errors.items())
    online = fdag.RowDriver(DAG, outputs).get_many(requests, as_of=AT)
    for vector, got in zip(online, result.table.to_dicts(), strict=True):
        for name in outputs:
            assert (vector[name] is None) == (got[name] is None)
            assert vector[name] is None or math.isclose(vector[name], got[name], rel_tol=1e-9, abs_tol=1e-12)


def test_a_rebound_helper_makes_the_driver_stale(monkeypatch: Any) -> None:
    frame = fdag.FrameDriver(DAG, ["trip_km"])
    monkeypatch.setattr(trips, "_haversine", lambda *args: 0.0)
    spine = pl.DataFrame({"pickup_lat": [0.0], "pickup_lon": [0.0], "dropoff_lat": [1.0], "dropoff_lon": [1.0],
                          "as_of": [AT]})
    try:
        frame.run(spine)
    except fdag.FdagError as error:
        assert "was translated with _haversine = " in str(error)
    else:
        raise AssertionError("a rebound helper was not noticed")
