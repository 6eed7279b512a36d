"""Check counts agree: RowDriver (summed over requests), FrameDriver and a hand computation of the same rules.

``range`` and ``one_of`` judge the non-null values, ``allow_null`` and ``max_null_fraction`` count nulls over every
value; online each request gives 0 or 1 failure per row check, and ``max_null_fraction`` is offline only.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from fdag.errors import CheckWarning
from tests.resources import checked

DAG = fdag.Dag.from_modules(checked)
PLAIN = ["ratio", "bucket", "steps"]
T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckWarning)
        yield


def _bucket(ratio: float | None) -> str | None:
    if ratio is None:
        return None
    return "low" if ratio < 0.3 else "mid" if ratio < 0.7 else "high" if ratio <= 1.0 else "over"


def oracle(requests: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[int, int, bool]]:
    """(node, check) -> (failed, total, passed), computed from the functions' rules by hand."""
    ratios = [None if r["amount"] is None or not r["limit"] else r["amount"] / r["limit"] for r in requests]
    buckets = [_bucket(x) for x in ratios]
    steps = [None if r["amount"] is None else int(r["amount"] // 10) for r in requests]
    n = len(requests)

    def judged(values: list[Any], fails: Any) -> tuple[int, int, bool]:
        present = [v for v in values if v is not None]
        failed = sum(1 for v in present if fails(v))
        return failed, len(present), failed == 0

    nulls = sum(x is None for x in buckets)
    return {
        ("bucket", "one_of"): judged(buckets, lambda b: b not in ("low", "mid", "high")),
        ("bucket", "max_null_fraction"): (nulls, n, n == 0 or nulls / n <= 0.25),
        ("ratio", "range"): judged(ratios, lambda x: not 0.0 <= x <= 1.0),
        ("ratio", "allow_null"): (sum(x is None for x in ratios), n, all(x is not None for x in ratios)),
        ("steps", "range"): judged(steps, lambda s: not -5 <= s <= 5),
    }


def online(dag: fdag.Dag, outputs: list[str], requests: list[dict[str, Any]],
           prepare: Any = None) -> dict[tuple[str, str], tuple[int, int, bool]]:
    """Every request through RowDriver.get; each (node, check) summed over the requests."""
    row = fdag.RowDriver(dag, outputs)
    if prepare is not None:
        prepare(row)
    summed: dict[tuple[str, str], list[int]] = {}
    for request in requests:
        vec = row.get({k: v for k, v in request.items() if k != "as_of"}, request.get("as_of", T0))
        for result in vec.checks:
            counts = summed.setdefault((result.node, result.check), [0, 0])
            counts[0] += result.failed
            counts[1] += result.total
    return {key: (failed, total, failed == 0) for key, (failed, total) in summed.items()}


def offline(result: fdag.FrameResult) -> dict[tuple[str, str], tuple[int, int, bool]]:
    return {(c.node, c.check): (c.failed, c.total, bool(c.passed)) for c in result.checks}


amounts = st.one_of(st.none(), st.floats(-80, 160, allow_nan=False), st.sampled_from([0.0, 10.0, 50.0, 100.0]))
limits_ = st.one_of(st.none(), st.sampled_from([0.0, 50.0, 100.0]), st.floats(1, 200, allow_nan=False))
requests_ = st.lists(st.fixed_dictionaries({"amount": amounts, "limit": limits_}), max_size=40)


@settings(max_examples=60, deadline=None)
@given(requests_)
def test_row_frame_and_hand_counts_agree(requests: list[dict[str, Any]]) -> None:
    expected = oracle(requests)
    spine = pl.DataFrame(requests, schema={"amount": pl.Float64, "limit": pl.Float64}, orient="row")
    frame = offline(fdag.FrameDriver(DAG, PLAIN).evaluate(spine))
    assert frame == expected
    row = online(DAG, PLAIN, requests)  # no request, no vector: nothing to sum
    assert row == {key: value for key, value in expected.items() if key[1] != "max_null_fraction" and requests}


@settings(max_examples=20, deadline=None)
@given(requests_)
def test_an_intermediate_nodes_checks_run_when_only_its_consumer_is_asked_for(requests: list[dict[str, Any]]) -> None:
    expected = {key: value for key, value in oracle(requests).items() if key[0] in ("ratio", "bucket")}
    spine = pl.DataFrame(requests, schema={"amount": pl.Float64, "limit": pl.Float64}, orient="row")
    result = fdag.FrameDriver(DAG, ["bucket"]).evaluate(spine)
    assert offline(result) == expected
    assert result.table.columns == ["amount", "limit", "bucket"]  # the checked 'ratio' column is not added
    assert online(DAG, ["bucket"], requests) == {k: v for k, v in expected.items()
                                                 if k[1] != "max_null_fraction" and requests}


events_ = st.lists(st.tuples(st.sampled_from(["c1", "c2"]), st.integers(0, 240)), max_size=25)
snapshots_ = st.lists(st.tuples(st.sampled_from(["c1", "c2"]), st.integers(0, 240), st.floats(1, 500)), max_size=6)
asks = st.lists(st.tuples(st.sampled_from(["c1", "c2", "c3"]), st.integers(0, 300)), min_size=1, max_size=15)


@settings(max_examples=40, deadline=None)
@given(events_, snapshots_, asks)
def test_window_and_lookup_checks_agree_with_brute_force(events: list[tuple[str, int]],
                                                        snapshots: list[tuple[str, int, float]],
                                                        requests: list[tuple[str, int]]) -> None:
    payments = pl.DataFrame({"pid": [f"p{i}" for i in range(len(events))], "card": [c for c, _ in events],
                             "ts": [T0 + timedelta(minutes=m) for _, m in events], "amount": [1.0] * len(events)},
                            schema={"pid": pl.String, "card": pl.String, "ts": pl.Datetime("us", "UTC"),
                                    "amount": pl.Float64})
    limits = pl.DataFrame({"card": [c for c, _, _ in snapshots], "ts": [T0 + timedelta(minutes=m) for _, m, _ in
                                                                        snapshots],
                           "limit": [x for _, _, x in snapshots]},
                          schema={"card": pl.String, "ts": pl.Datetime("us", "UTC"), "limit": pl.Float64})
    asked = [{"card": card, "as_of": T0 + timedelta(minutes=m)} for card, m in requests]
    counts = [sum(1 for c, e in events if c == r["card"] and r["as_of"] - timedelta(hours=1)
                  <= T0 + timedelta(minutes=e) < r["as_of"]) for r in asked]
    found = [any(c == r["card"] and T0 + timedelta(minutes=m) <= r["as_of"] for c, m, _ in snapshots) for r in asked]
    expected = {("card_limit", "allow_null"): (found.count(False), len(asked), all(found)),
                ("payments_1h", "range"): (sum(n > 2 for n in counts), len(asked), all(n <= 2 for n in counts))}
    outputs = ["payments_1h", "card_limit"]
    spine = pl.DataFrame(asked, schema={"card": pl.String, "as_of": pl.Datetime("us", "UTC")})
    result = fdag.FrameDriver(DAG, outputs).evaluate(spine, sources={"payments": payments, "limits": limits})
    assert offline(result) == expected

    def feed(row: fdag.RowDriver) -> None:
        row.ingest("payments", payments)
        row.materialize("limits", limits)

    assert online(DAG, outputs, asked, feed) == expected


def test_fdag_check_compares_the_check_counts_and_neither_warns_nor_raises(
        make_module: Any) -> None:
    module = make_module("generated_checks", """
        import fdag

        @fdag.check_output(range=(0.0, 1.0), allow_null=False, importance="fail")
        def share(amount: float, limit: float) -> float:
            return amount / limit

        @fdag.check_output(one_of=[0, 1, 2], max_null_fraction=0.0, importance="fail")
        def level(share: float) -> int:
            return 0 if share < 0.3 else 1 if share < 0.7 else 2 if share <= 1.0 else 3
    """)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a CheckWarning would fail the test
        fdag.check(fdag.Dag.from_modules(module), examples=30)
    fdag.check(DAG, examples=30)


def test_fdag_check_finds_an_engine_counting_a_check_differently(monkeypatch: pytest.MonkeyPatch) -> None:
    from fdag._row.checks import RowChecks

    forgetful = RowChecks.__init__

    def without_ranges(self: RowChecks, plan: Any) -> None:  # an online engine that forgets range checks
        forgetful(self, plan)
        kept = [i for i, spec in enumerate(self.specs) if spec.check != "range"]
        self.specs = tuple(self.specs[i] for i in kept)
        self._failing = tuple(self._failing[i] for i in kept)

    monkeypatch.setattr(RowChecks, "__init__", without_ranges)
    with pytest.raises(fdag.ConsistencyError, match="checks"):
        fdag.check(DAG, outputs=["steps"], examples=200)


def test_one_of_agrees_for_every_scalar_type(make_module: Any) -> None:
    module = make_module("typed_one_of", """
        from datetime import date, datetime, timedelta
        import fdag

        @fdag.check_output(one_of=[datetime(2024, 1, 1), datetime(2024, 1, 2)])
        def when(d: int) -> datetime:
            return datetime(2024, 1, d)

        @fdag.check_output(one_of=[date(2024, 1, 1)])
        def day(d: int) -> date:
            return date(2024, 1, d)

        @fdag.check_output(one_of=[timedelta(hours=1)])
        def gap(d: int) -> timedelta:
            return timedelta(hours=d)

        @fdag.check_output(one_of=[True])
        def flag(d: int) -> bool:
            return d == 1

        @fdag.check_output(one_of=list(range(0, 40, 3)))  # more values than the equality chain takes
        def many(d: int) -> int:
            return d * 7

        @fdag.check_output(one_of=[0, 1.5], range=(0, 2))
        def half(d: int) -> float:
            return d / 2
    """)
    dag = fdag.Dag.from_modules(module)
    days = [1, 2, 3, None, 1]
    # d = 1, 2, 3, 1 (and a null, which neither check judges)
    expected = {("when", "one_of"): (1, 4, False), ("day", "one_of"): (2, 4, False), ("gap", "one_of"): (2, 4, False),
                ("flag", "one_of"): (2, 4, False), ("many", "one_of"): (3, 4, False),  # 7, 14, 7 fail; 21 passes
                ("half", "one_of"): (3, 4, False), ("half", "range"): (0, 4, True)}
    assert offline(fdag.FrameDriver(dag).evaluate(pl.DataFrame({"d": days}, schema={"d": pl.Int64}))) == expected
    assert online(dag, list(dag.nodes), [{"d": d} for d in days]) == expected


def test_range_bounds_of_any_number_agree(make_module: Any) -> None:
    module = make_module("range_bounds", """
        import fdag

        @fdag.check_output(range=(0, 1.5))  # a float bound on an int feature
        def a(d: int) -> int:
            return d

        @fdag.check_output(range=(-10**20, 10**20))  # beyond int64
        def b(d: int) -> int:
            return d

        @fdag.check_output(range=(float("-inf"), 2))
        def c(d: int) -> int:
            return d

        @fdag.check_output(range=(0, 10**20))
        def e(d: int) -> float:
            return d * 1.0
    """)
    dag = fdag.Dag.from_modules(module)
    days = [-1, 0, 1, 2, 3]
    expected = {("a", "range"): (3, 5, False), ("b", "range"): (0, 5, True), ("c", "range"): (1, 5, False),
                ("e", "range"): (1, 5, False)}
    assert offline(fdag.FrameDriver(dag).evaluate(pl.DataFrame({"d": days}))) == expected
    assert online(dag, list(dag.nodes), [{"d": d} for d in days]) == expected
