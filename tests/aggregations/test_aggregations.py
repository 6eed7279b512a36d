"""The aggregation registry: one entry defines an aggregation for both engines; misuse is named at declaration."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from types import ModuleType
from typing import Any

import polars as pl
import pytest

import fdag
from fdag._aggregations import offline, online
from fdag._aggregations.column_index import ColumnIndex, Derived
from fdag._aggregations.offline import Window
from fdag._aggregations.registry import Aggregation, AggregationKind, kind_of, parse_aggregation, register, unregister
from fdag._values.types import FType

T0 = datetime(2024, 5, 1, tzinfo=UTC)
BUILTIN = "count, sum, mean, min, max, std, var, first, last, distinct_count or last_n(N)"


def _online_range(empty: Any, exact: bool, n: int | None) -> online.Aggregator:
    """max - min from the monotonic stacks the entry asks for (``needs``), as a real aggregation would."""
    low, high = online.extreme(attrgetter("mins"), min)(empty), online.extreme(attrgetter("maxs"), max)(empty)

    def spread(index: ColumnIndex, a: int, z: int) -> Any:
        return high(index, a, z) - low(index, a, z) if z > a else empty

    return spread


def _offline_range(values: pl.Series, window: Window, cache: dict[Any, Any], n: int | None) -> pl.Series:
    low, high = offline.extreme(largest=False), offline.extreme(largest=True)
    return high(values, window, cache) - low(values, window, cache)


@pytest.fixture
def value_range() -> Iterator[AggregationKind]:
    """A toy aggregation, ``range`` (max - min), added as one registry entry and removed afterwards."""
    kind = register(AggregationKind(
        "range", FType.nullable, _online_range, _offline_range, accepts=(int, float),
        hint="return an int or float per event", needs=Derived.MINS | Derived.MAXS,
    ))
    yield kind
    unregister(kind.name)


RANGE_MODULE = """
    from datetime import datetime

    import fdag

    payments = fdag.Source("payments", key="user", timestamp="ts", allowed_lateness="1000d",
                           schema={"user": str, "ts": datetime, "amount": float | None, "items": int | None})

    @fdag.window(payments, agg=["range", "sum"], over=["1h", "1d"])
    def amount(amount: float) -> float:
        return amount

    @fdag.window(payments, agg="range", over="3h", closed="both")
    def items_range(items: int) -> int:
        return items
"""


def _events(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events = []
    for _ in range(300):
        amount = rng.choice([None, round(rng.uniform(-50, 500), 2), float(rng.randint(0, 9))])
        events.append({"user": rng.choice("abc"), "ts": T0 + timedelta(minutes=rng.randint(0, 3000)),
                       "amount": amount, "items": rng.choice([None, rng.randint(-5, 40)])})
    return events


def _oracle(events: list[dict[str, Any]], user: str, as_of: datetime, column: str, over: timedelta,
            both: bool) -> Any:
    """max - min of the non-null values in [as_of - over, as_of) (``]`` when ``both``), by brute force."""
    values = [e[column] for e in events if e["user"] == user and e[column] is not None
              and as_of - over <= e["ts"] and (e["ts"] <= as_of if both else e["ts"] < as_of)]
    return max(values) - min(values) if values else None


def test_an_aggregation_added_as_one_entry_runs_on_both_engines(
        value_range: AggregationKind, make_module: Callable[[str, str], ModuleType]) -> None:
    dag = fdag.Dag.from_modules(make_module("range_features", RANGE_MODULE))
    assert str(dag.nodes["amount_range_1h"].returns) == "float | None"
    assert str(dag.nodes["items_range"].returns) == "int | None"
    events = _events(7)
    rng = random.Random(8)
    requests = [{"user": rng.choice("abcz"), "as_of": T0 + timedelta(minutes=rng.randint(-60, 3100))}
                for _ in range(200)]
    requests += [{"user": e["user"], "as_of": e["ts"]} for e in events[:40]]  # events exactly at the as-of
    outputs = ["amount_range_1h", "amount_range_1d", "items_range"]
    expected = [{"amount_range_1h": _oracle(events, r["user"], r["as_of"], "amount", timedelta(hours=1), False),
                 "amount_range_1d": _oracle(events, r["user"], r["as_of"], "amount", timedelta(days=1), False),
                 "items_range": _oracle(events, r["user"], r["as_of"], "items", timedelta(hours=3), True)}
                for r in requests]
    assert sum(e["items_range"] is not None for e in expected) > 100  # the oracle sees real windows

    frame = fdag.FrameDriver(dag, outputs).run(pl.DataFrame(requests), sources={"payments": pl.DataFrame(events)})
    assert frame.select(outputs).to_dicts() == expected

    row = fdag.RowDriver(dag, outputs)
    row.ingest("payments", events)
    assert [dict(row.get({"user": r["user"]}, r["as_of"]).values) for r in requests] == expected


def test_an_unregistered_aggregation_is_unknown(value_range: AggregationKind) -> None:
    assert parse_aggregation("range") == Aggregation("range")
    unregister("range")
    try:
        with pytest.raises(fdag.DeclarationError, match=r"agg='range' is not a known aggregation"):
            parse_aggregation("range")
    finally:
        register(value_range)  # the fixture removes it again


def test_an_aggregation_name_is_registered_once(value_range: AggregationKind) -> None:
    with pytest.raises(ValueError, match=r"aggregation='range' is already registered\. Hint: unregister it first"):
        register(value_range)
    assert kind_of("range") is value_range


@pytest.mark.parametrize("agg", ["median", "last_n", "sum(3)", "last_n(x)", 5])
def test_an_unknown_aggregation_is_a_declaration_error(agg: Any) -> None:
    source = fdag.Source("s", key="k", timestamp="ts", schema={"k": str, "ts": datetime, "x": float})
    message = f"agg={agg!r} is not a known aggregation. Hint: use one of {BUILTIN}."
    with pytest.raises(fdag.DeclarationError, match=f"^{re.escape(message)}$") as caught:
        fdag.window(source, agg=["sum", agg], over="1h")  # type: ignore[list-item]
    assert isinstance(caught.value, ValueError) and caught.value.argument == "agg" and caught.value.value == agg


def test_the_known_aggregations_include_registered_ones(value_range: AggregationKind) -> None:
    with pytest.raises(fdag.DeclarationError, match=r"Hint: use one of count, .*, last_n\(N\) or range\.$"):
        parse_aggregation("median")


@pytest.mark.parametrize(("agg", "annotation", "hint"), [
    ("min", "list[int]", "return an orderable scalar per event"),
    ("max", "list[int]", "return an orderable scalar per event"),
    ("sum", "str", "return an int or float per event"),
    ("mean", "datetime", "return an int or float per event"),
    ("std", "str | None", "return an int or float per event"),
])
def test_an_aggregation_over_values_it_does_not_accept_is_a_dag_error(
        agg: str, annotation: str, hint: str, make_module: Callable[[str, str], ModuleType]) -> None:
    module = make_module(f"misuse_{agg}", f"""
        from datetime import datetime

        import fdag

        events = fdag.Source("events", key="k", timestamp="ts",
                             schema={{"k": str, "ts": datetime, "tags": list[int], "name": str}})

        @fdag.window(events, agg="{agg}", over="1h")
        def value(tags: list[int], name: str, ts: datetime) -> {annotation}:
            return None
    """)
    with pytest.raises(fdag.DagError, match=rf"feature 'value' \(.*misuse_{agg}\.py:\d+\) aggregates "
                       rf"'{re.escape(annotation)}' values with '{agg}'\. Hint: {re.escape(hint)}"):
        fdag.Dag.from_modules(module)


def test_every_builtin_kind_declares_its_value_types() -> None:
    for name in ("sum", "mean", "std", "var"):
        assert kind_of(name).accepts_type(FType(int)) and not kind_of(name).accepts_type(FType(str))
    for name in ("min", "max"):
        assert kind_of(name).accepts_type(FType(str)) and not kind_of(name).accepts_type(FType(list, item=FType(int)))
    for name in ("count", "first", "last", "distinct_count", "last_n"):
        assert kind_of(name).accepts_type(FType(list, item=FType(int)))
