"""``fdag.check``: prove the two engines agree, on requests hypothesis generates from the input types.

"Development equals deployment" is a claim about every input, so the checker searches for a counterexample:
nulls, zeros, negatives, int64 bounds, infinities, unicode, instants across days. When the engines disagree it
raises ``ConsistencyError`` naming the first mismatching node with the shrunk example.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, timedelta, timezone
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdag._dag import Dag
from fdag._frame import FrameDriver
from fdag._node import AS_OF
from fdag._row import RowDriver
from fdag._types import INT64_MAX, INT64_MIN, FType
from fdag.errors import ConsistencyError

_EARLIEST = datetime(1970, 1, 1)
_LATEST = datetime(2100, 1, 1)
_EDGE_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.5, 1e-300, -1e-300, 5e-324, 1e300, math.inf, -math.inf, math.nan]


def values_of(ftype: FType) -> st.SearchStrategy[Any]:
    """Values of ``ftype`` with the edge cases that break engines, plus null (any input may be null)."""
    base: st.SearchStrategy[Any]
    if ftype.base is bool:
        base = st.booleans()
    elif ftype.base is int:
        base = st.one_of(st.integers(-1000, 1000), st.sampled_from([0, 1, -1, INT64_MIN, INT64_MAX]),
                         st.integers(INT64_MIN, INT64_MAX))
    elif ftype.base is float:
        base = st.one_of(st.floats(-1e6, 1e6), st.sampled_from(_EDGE_FLOATS), st.floats(allow_nan=True),
                         st.integers(-1000, 1000).map(float))
    elif ftype.base is str:
        base = st.one_of(st.text(max_size=12), st.sampled_from(["", " ", "a", "A b ", "ß", "İ", "\t x\u3000"]))
    elif ftype.base is datetime:
        base = st.datetimes(_EARLIEST, _LATEST, timezones=st.just(timezone.utc))
    elif ftype.base is date:
        base = st.dates(_EARLIEST.date(), _LATEST.date())
    elif ftype.base is timedelta:
        base = st.timedeltas(timedelta(days=-10**5), timedelta(days=10**5))
    else:
        assert ftype.item is not None
        base = st.lists(values_of(ftype.item.required()), max_size=4)
    return st.one_of(st.none(), base)


def _same(row_value: Any, frame_value: Any) -> bool:
    if isinstance(row_value, float) and isinstance(frame_value, float):
        return math.isclose(row_value, frame_value, rel_tol=1e-9, abs_tol=1e-300)
    if isinstance(row_value, list) and isinstance(frame_value, list):
        return len(row_value) == len(frame_value) and all(map(_same, row_value, frame_value))
    return type(row_value) is type(frame_value) and row_value == frame_value


def compare(row: RowDriver, frame: FrameDriver, requests: list[dict[str, Any]]) -> None:
    """Run both engines on ``requests`` (each with its ``as_of``) and raise on the first disagreement."""
    schema = {name: ftype.polars for name, ftype in row.plan.inputs.items()}
    schema[AS_OF] = pl.Datetime("us", "UTC")
    spine = pl.DataFrame(requests, schema=schema, orient="row") if requests else pl.DataFrame(schema=schema)
    table = frame.run(spine)
    vectors = [row.get(request, request[AS_OF]) for request in requests]
    for name in row.outputs:
        column = table[name].to_list()
        for request, vector, frame_value in zip(requests, vectors, column, strict=True):
            if not _same(vector[name], frame_value):
                raise ConsistencyError(name, request, vector[name], frame_value)
    row_errors = Counter((e.node, e.type) for vector in vectors for e in vector.errors)
    frame_errors = Counter({(e.node, e.type): e.count for e in frame.errors})
    if row_errors != frame_errors:
        node = next(iter((row_errors - frame_errors) or (frame_errors - row_errors)))[0]
        raise ConsistencyError(node, requests, f"errors {dict(row_errors)}", f"errors {dict(frame_errors)}")


def check(dag: Dag, outputs: Sequence[str] | None = None, examples: int = 200, seed: int | None = None) -> None:
    """Search for requests on which ``RowDriver`` and ``FrameDriver`` disagree; raise ``ConsistencyError`` if any.

    Example::

        fdag.check(fdag.Dag.from_modules(fraud), examples=500)
    """
    row, frame = RowDriver(dag, outputs), FrameDriver(dag, outputs)
    plan = row.plan
    request = st.fixed_dictionaries(
        {**{name: values_of(ftype) for name, ftype in plan.inputs.items()},
         AS_OF: st.datetimes(_EARLIEST, _LATEST, timezones=st.just(timezone.utc))}
    )

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is not None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(request, min_size=1, max_size=6))
    def agree(requests: list[dict[str, Any]]) -> None:
        compare(row, frame, requests)

    agree()
