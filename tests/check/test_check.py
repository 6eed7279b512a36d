"""The consistency checker over every example module, the reference evaluator, and a checker that can fail."""

from __future__ import annotations

import dataclasses
import importlib
import math
import pkgutil
from collections import Counter
from datetime import UTC
from types import ModuleType
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
import feature_modules
from fdag._check.check import compare, values_of
from fdag.demo import fraud, payment
from tests import reference
from tests.resources import semantics, tiny

UTC = UTC
INVALID = {"broken", "cyclic", "duplicate", "reserved"}


def modules(package: ModuleType) -> list[ModuleType]:
    names = [m.name for m in pkgutil.iter_modules(package.__path__) if m.name not in INVALID]
    return [importlib.import_module(f"{package.__name__}.{name}") for name in sorted(names)]


def scalar_modules() -> list[ModuleType]:
    import tests.resources

    found = list(dict.fromkeys([payment, fraud, *modules(feature_modules), *modules(tests.resources)]))
    return [m for m in found if not fdag.Dag.from_modules(m).sources]


@pytest.mark.parametrize("module", scalar_modules(), ids=lambda m: m.__name__)
def test_engines_agree_on_every_example_module(module: ModuleType) -> None:
    fdag.check(fdag.Dag.from_modules(module), examples=60)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-300)
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("module", [semantics, tiny], ids=lambda m: m.__name__)
def test_both_engines_match_the_reference_evaluator(module: ModuleType) -> None:
    dag = fdag.Dag.from_modules(module)
    row, frame = fdag.RowDriver(dag), fdag.FrameDriver(dag)
    request = st.fixed_dictionaries({**{n: values_of(t) for n, t in dag.inputs.items()},
                                     "as_of": st.datetimes(timezones=st.just(UTC))})

    @settings(max_examples=60, deadline=None, database=None)
    @given(st.lists(request, min_size=1, max_size=5))
    def agree(requests: list[dict[str, Any]]) -> None:
        schema = {n: t.polars for n, t in dag.inputs.items()} | {"as_of": pl.Datetime("us", "UTC")}
        result = frame.evaluate(pl.DataFrame(requests, schema=schema, orient="row"))
        table = result.table
        expected_errors: Counter[str] = Counter()
        for i, request in enumerate(requests):
            expected, errors = reference.evaluate(dag, request, request["as_of"])
            expected_errors += errors
            vector = row.get(request, request["as_of"])
            for name in dag.nodes:
                assert _same(vector[name], expected[name]), (name, request, vector[name], expected[name])
                assert _same(table[name][i], expected[name]), (name, request, table[name][i], expected[name])
        found: Counter[str] = Counter()
        for e in result.errors:
            found[e.node] += e.count
        assert found == expected_errors

    agree()


def test_the_checker_reports_a_disagreeing_engine_with_the_shrunk_example(monkeypatch: pytest.MonkeyPatch) -> None:
    dag = fdag.Dag.from_modules(tiny)
    real_evaluate = fdag.FrameDriver.evaluate

    def off_by_one(self: fdag.FrameDriver, spine: Any, *args: Any, **kwargs: Any) -> fdag.FrameResult:
        out = real_evaluate(self, spine, *args, **kwargs)
        wrong = pl.when(pl.col("x") > 5).then(pl.col("doubled") + 1).otherwise(pl.col("doubled"))
        return dataclasses.replace(out, table=out.table.with_columns(wrong))

    monkeypatch.setattr(fdag.FrameDriver, "evaluate", off_by_one)
    with pytest.raises(fdag.ConsistencyError, match=r"engines disagree on 'doubled': RowDriver gives 12, "
                       r"FrameDriver gives 13 for \{.*'x': 6"):
        fdag.check(dag, ["doubled"], examples=200)


def test_compare_checks_error_counts_too() -> None:
    dag = fdag.Dag.from_modules(tiny)
    row, frame = fdag.RowDriver(dag, ["ratio"]), fdag.FrameDriver(dag, ["ratio"])
    compare(row, frame, [{"x": 1, "y": 0.0, "as_of": None}])

    def forgets_errors(spine: pl.DataFrame, sources: object = None) -> fdag.FrameResult:
        return fdag.FrameResult(spine.with_columns(ratio=pl.lit(None, pl.Float64)))

    frame.evaluate = forgets_errors  # type: ignore[method-assign,assignment]
    with pytest.raises(fdag.ConsistencyError, match="errors"):
        compare(row, frame, [{"x": 1, "y": 0.0, "as_of": None}])
