"""``fdag.check``: prove the two engines agree, on requests hypothesis generates from the input types.

"Development equals deployment" is a claim about every input, so the checker searches for a counterexample:
nulls, zeros, negatives, int64 bounds, infinities, unicode, instants across days. When the engines disagree it
raises ``ConsistencyError`` naming the first mismatching node with the shrunk example.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from operator import itemgetter
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fdag._check.histories import event_lists, instants, keys_of
from fdag._dag.checks import recording_checks
from fdag._dag.dag import Dag
from fdag._dag.node import AS_OF
from fdag._declare.source import Source
from fdag._frame.driver import FrameDriver
from fdag._row.driver import RowDriver
from fdag._row.vector import FeatureVector
from fdag._values.calls import ErrorRecord
from fdag._values.results import CheckResult
from fdag._values.types import INT64_MAX, INT64_MIN, FType
from fdag.errors import ConsistencyError

_TICK = timedelta(microseconds=1)
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
        base = st.datetimes(_EARLIEST, _LATEST, timezones=st.just(UTC))
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


def compare(
    row: RowDriver,
    frame: FrameDriver,
    requests: list[dict[str, Any]],
    events: Mapping[str, list[dict[str, Any]]] | None = None,
    arrival: random.Random | None = None,
) -> None:
    """Run both engines on ``requests`` (each with its ``as_of``) and raise on the first disagreement.

    With ``events``, the frame engine reads each source's events as one frame, while ``row`` (fresh, with
    empty state) is fed them as a stream: before each request, in the order of the requests' instants, every
    event up to that instant arrives, shuffled by ``arrival`` (out of order, duplicates included).
    """
    schema = {name: ftype.polars for name, ftype in row.plan.inputs.items()}
    schema[AS_OF] = pl.Datetime("us", "UTC")
    spine = pl.DataFrame(requests, schema=schema, orient="row") if requests else pl.DataFrame(schema=schema)
    sources = {name: _events_frame(row.plan.sources[name], evts) for name, evts in (events or {}).items()}
    with recording_checks():  # generated data fails checks freely: compare their counts, never warn or raise
        result = frame.evaluate(spine, sources=sources)
        vectors, ingested = _replay(row, requests, events or {}, arrival or random.Random(0))
    for name in row.outputs:
        column = result.table[name].to_list()
        for request, vector, frame_value in zip(requests, vectors, column, strict=True):
            if not _same(vector[name], frame_value):
                raise ConsistencyError(name, {"request": request, "events": events}, vector[name], frame_value)
    # Feature errors are per request (on the vectors), per-event function errors per event (on ingest reports).
    features = {node.name for node in row.plan.nodes if node.kind == "feature"}
    frame_errors = _counted(e for e in result.errors if e.node in features)
    event_errors = _counted(e for e in result.errors if e.node not in features)
    for online, offline, example in ((_counted(e for v in vectors for e in v.errors), frame_errors, requests),
                                     (_counted(ingested), event_errors, events)):
        if online != offline:
            node = next(iter((online - offline) or (offline - online)))[0]
            raise ConsistencyError(node, example, f"errors {dict(online)}", f"errors {dict(offline)}")
    _compare_checks(vectors, result.checks, requests)


def _compare_checks(vectors: list[FeatureVector], offline: Iterable[CheckResult], requests: list[Any]) -> None:
    """The row checks summed over the vectors equal the frame's counts (``max_null_fraction`` is offline only)."""
    online: Counter[tuple[str, str, str]] = Counter()
    for vector in vectors:
        for c in vector.checks:
            online[c.node, c.check, "failed"] += c.failed
            online[c.node, c.check, "total"] += c.total
    frame: Counter[tuple[str, str, str]] = Counter()
    for c in offline:
        if c.check != "max_null_fraction":
            frame[c.node, c.check, "failed"] += c.failed
            frame[c.node, c.check, "total"] += c.total
    if +online != +frame:
        node = next(iter((+online - +frame) or (+frame - +online)))[0]
        raise ConsistencyError(node, requests, f"checks {dict(+online)}", f"checks {dict(+frame)}")


def _counted(errors: Iterable[ErrorRecord]) -> Counter[tuple[str, str, str]]:
    """Rows per (node, exception type, message): records of one error may be split (per batch, per source)."""
    counts: Counter[tuple[str, str, str]] = Counter()
    for e in errors:
        counts[e.node, e.type, e.message] += e.count
    return counts


def _events_frame(source: Source, events: list[dict[str, Any]]) -> pl.DataFrame:
    schema = {column: ftype.polars for column, ftype in source.schema.items()}
    return pl.DataFrame(events, schema=schema, orient="row") if events else pl.DataFrame(schema=schema)


def _replay(row: RowDriver, requests: list[dict[str, Any]], events: Mapping[str, list[dict[str, Any]]],
            arrival: random.Random) -> tuple[list[FeatureVector], list[ErrorRecord]]:
    """The vector of each request, and the errors the ingests reported; every event is ingested once (those after
    the last request at the end), as the frame engine reads every event once."""
    pending = {name: sorted(evts, key=itemgetter(row.plan.sources[name].timestamp)) for name, evts in events.items()}
    vectors: list[FeatureVector | None] = [None] * len(requests)
    ingested: list[ErrorRecord] = []
    for index in sorted(range(len(requests)), key=lambda i: requests[i][AS_OF]):
        instant = requests[index][AS_OF]
        for name, queue in pending.items():
            timestamp = row.plan.sources[name].timestamp
            due = 0
            while due < len(queue) and queue[due][timestamp] <= instant:
                due += 1
            batch, pending[name] = queue[:due], queue[due:]
            if row.plan.sources[name].id is not None:  # without ids, ties are broken by arrival order: keep it
                arrival.shuffle(batch)
            if batch:
                ingested += row.ingest(name, batch).errors
        vectors[index] = row.get(requests[index], instant)
    for name, queue in pending.items():
        if queue:
            ingested += row.ingest(name, queue).errors
    return [v for v in vectors if v is not None], ingested


def check(dag: Dag, outputs: Sequence[str] | None = None, examples: int = 200, seed: int | None = None) -> None:
    """Search for data on which ``RowDriver`` and ``FrameDriver`` disagree; raise ``ConsistencyError`` if any.

    Requests come from the input types; for window and lookup features, event histories come from each
    source's schema (edges, ties, duplicates, nulls) and the row engine replays them as a shuffled stream.
    Values must agree as the engines promise: ints, bools, strings and nulls identical, the same errors, floats
    within 1e-9 relative (window aggregates 1e-6). Hypothesis shrinks a disagreement to a small example, which
    the error holds.

    Parameters
    ----------
    dag
        The DAG to check.
    outputs
        The features compared (and what they need); ``None``: every node.
    examples
        How many generated cases hypothesis tries.
    seed
        Any int makes the search deterministic, the same cases on every call (hypothesis's ``derandomize``; the
        value itself does not choose them); ``None``: fresh random cases each call.

    Example::

        import fdag
        from fdag.demo import payment

        fdag.check(fdag.Dag.from_modules(payment), outputs=["risk_score"], examples=50)   # None, or ConsistencyError
    """
    frame = FrameDriver(dag, outputs)
    plan = frame.plan
    fields = {name: values_of(ftype) for name, ftype in plan.inputs.items()}
    fields[AS_OF] = st.datetimes(_EARLIEST, _LATEST, timezones=st.just(UTC))
    histories: dict[str, st.SearchStrategy[list[dict[str, Any]]]] = {}
    grid: list[datetime] = []
    for name, source in plan.sources.items():
        overs = [spec.over for spec in plan.windows.get(name, ())]
        for spec in plan.lookups.get(name, ()):
            # A lookup's edges: the newest row it may read (as_of - lag; an hour's grid for lag 0) and, with a
            # max_age, the oldest row that is not too old (as_of - lag - max_age).
            overs.append(spec.lag or timedelta(hours=1))
            if spec.max_age is not None:
                overs.append(spec.lag + spec.max_age)
        grid += instants(overs)[0]
        fields[source.key] = st.one_of(st.none(), keys_of(source))
        histories[name] = event_lists(source, list(source.schema), overs, values_of)
    if grid:  # requests at the grid's instants (window edges) and one microsecond after them
        fields[AS_OF] = st.sampled_from(sorted(set(grid))).flatmap(lambda t: st.sampled_from([t, t + _TICK]))

    @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is not None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.fixed_dictionaries(fields), min_size=1, max_size=6), st.fixed_dictionaries(histories),
           st.randoms(use_true_random=False))
    def agree(requests: list[dict[str, Any]], events: dict[str, list[dict[str, Any]]], arrival: Any) -> None:
        compare(RowDriver(dag, outputs), frame, requests, events, arrival)

    agree()
