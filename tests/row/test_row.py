"""RowDriver specifics: request validation, as-of, lineage and error records on the feature vector."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

import fdag
from fdag.errors import InputTypeError, MissingInputError
from tests.resources import semantics, tiny

UTC = UTC
DAG = fdag.Dag.from_modules(tiny)


def test_vector_holds_values_as_of_lineage_and_errors() -> None:
    row = fdag.RowDriver(DAG, ["ratio", "label"])
    at = datetime(2024, 1, 1, 12, tzinfo=UTC)
    vec = row.get({"x": 3, "y": 2.0, "name": None}, as_of=at)
    assert vec.values == {"ratio": 3.0, "label": "small"}
    assert vec["ratio"] == 3.0 and dict(vec) == vec.values and len(vec) == 2
    assert vec.as_of == {"ratio": at, "label": at}
    assert vec.lineage["label"] == DAG.lineage("label")
    assert vec.errors == []


def test_only_what_the_outputs_need_is_computed_and_required() -> None:
    row = fdag.RowDriver(DAG, ["doubled"])
    assert row.get({"x": 4}).values == {"doubled": 8}


def test_missing_input_names_it_and_the_fix() -> None:
    row = fdag.RowDriver(DAG, ["ratio"])
    with pytest.raises(MissingInputError, match=r"input 'y' is missing from the request\. Hint: pass it, e.g\. "
                       r"\{'y': <float>\}"):
        row.get({"x": 1})
    with pytest.raises(KeyError):
        row.get({"x": 1})


def test_wrong_input_type_names_it() -> None:
    row = fdag.RowDriver(DAG, ["ratio"])
    with pytest.raises(InputTypeError, match=r"input 'x' is a str \('3'\) but the type is 'int'\. Hint: pass a int"):
        row.get({"x": "3", "y": 1.0})
    with pytest.raises(TypeError):
        row.get({"x": 1.5, "y": 1.0})


def test_int_input_is_accepted_for_float_and_nan_is_null() -> None:
    row = fdag.RowDriver(DAG, ["ratio"])
    assert row.get({"x": 3, "y": 2})["ratio"] == 3.0
    assert row.get({"x": 3, "y": float("nan")})["ratio"] is None


def test_errors_are_recorded_or_raised() -> None:
    vec = fdag.RowDriver(DAG, ["ratio"]).get({"x": 1, "y": 0.0})
    assert vec["ratio"] is None
    assert [(e.node, e.type, e.count) for e in vec.errors] == [("ratio", "ZeroDivisionError", 1)]
    with pytest.raises(fdag.FeatureError, match=r"feature 'ratio' \(tests/resources/tiny\.py:\d+\) raised "
                       r"ZeroDivisionError: float division by zero for row \{'x': 1, 'y': 0\.0\}"):
        fdag.RowDriver(DAG, ["ratio"], errors="raise").get({"x": 1, "y": 0.0})


def test_wrong_return_type_is_an_error(make_module) -> None:  # type: ignore[no-untyped-def]
    module = make_module("liar_mod", """
        def liar(x: int) -> int:
            return str(x)
    """)
    vec = fdag.RowDriver(fdag.Dag.from_modules(module)).get({"x": 1})
    assert vec["liar"] is None
    assert vec.errors[0].type == "TypeError" and "returned value is a str ('1')" in vec.errors[0].message


def test_as_of_defaults_to_now_and_naive_is_utc() -> None:
    row = fdag.RowDriver(fdag.Dag.from_modules(semantics), ["hour"])
    before = datetime.now(UTC)
    vec = row.get({})
    assert before - timedelta(seconds=1) <= vec.as_of["hour"] <= datetime.now(UTC)
    assert row.get({}, as_of=datetime(2024, 1, 1, 5)).as_of["hour"] == datetime(2024, 1, 1, 5, tzinfo=UTC)
    with pytest.raises(InputTypeError, match="input 'as_of' is a str"):
        row.get({}, as_of="2024-01-01")  # type: ignore[arg-type]


def test_get_many_takes_one_instant_or_one_per_request() -> None:
    row = fdag.RowDriver(DAG, ["doubled"])
    assert [v["doubled"] for v in row.get_many([{"x": 1}, {"x": 2}])] == [2, 4]
    at = [datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 1, 2, tzinfo=UTC)]
    assert [v.as_of["doubled"] for v in row.get_many([{"x": 1}, {"x": 2}], as_of=at)] == at
    with pytest.raises(fdag.InputError, match="has 1 instants for 2 requests"):
        row.get_many([{"x": 1}, {"x": 2}], as_of=at[:1])


TWO_STATES = """
    from datetime import datetime
    import fdag

    pay = fdag.Source("pay", key="user", timestamp="ts", id="pid",
                      schema={"pid": str, "user": str, "ts": datetime, "amount": float, "tier": str})

    @fdag.window(pay, agg="sum", over="1d")
    def spent_1d(amount: float) -> float:
        return amount

    @fdag.lookup(pay)
    def tier_now(tier: str) -> str:
        return tier
"""


@pytest.mark.parametrize("store", ["memory", "redis"])
def test_loading_history_into_several_states_is_all_or_nothing(make_module, store: str, request) -> None:  # type: ignore[no-untyped-def]
    """A source read by a window and a lookup has two states: a frame the second rejects changes neither."""
    dag = fdag.Dag.from_modules(make_module("two_states", TWO_STATES))
    made = fdag.MemoryStore() if store == "memory" else fdag.RedisStore(request.getfixturevalue("redis_server").url,
                                                                  namespace=f"t-{uuid.uuid4().hex[:8]}")
    row = fdag.RowDriver(dag, store=made)
    at = datetime(2024, 1, 1, 12, tzinfo=UTC)
    row.ingest("pay", {"pid": "p0", "user": "u", "ts": at, "amount": 1.0, "tier": "gold"})
    history = pl.DataFrame({"pid": ["p1", "p2"], "user": ["u", "v"], "ts": [at + timedelta(hours=1)] * 2,
                            "amount": [2.0, 3.0], "tier": ["silver", "bronze"]})

    def state() -> tuple[object, ...]:
        values = [row.get({"user": user}, at + timedelta(hours=2)).values for user in ("u", "v")]
        return row.watermark("pay"), row.held("pay"), values

    before = state()
    assert before[2] == [{"spent_1d": 1.0, "tier_now": "gold"}, {"spent_1d": 0.0, "tier_now": None}]
    broken = [history.drop("tier"), history.with_columns(tier=pl.Series([1, 2]))]  # only the lookup reads tier
    for frame in broken:
        for load in (row.bootstrap, row.materialize):
            with pytest.raises(fdag.SourceError, match=r"source 'pay'.*'tier'.*Hint: "):
                load("pay", frame)
            assert state() == before
    with pytest.raises(fdag.SourceError, match=r"source 'pay' event 1: column 'tier' is missing"):
        row.materialize("pay", [history.row(0, named=True), history.drop("tier").row(1, named=True)])
    assert state() == before
    row.bootstrap("pay", history)
    assert state()[2] == [{"spent_1d": 3.0, "tier_now": "silver"}, {"spent_1d": 3.0, "tier_now": "bronze"}]
