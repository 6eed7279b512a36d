"""Parity with Apache Hamilton's ``check_output`` on the same functions: the same failures, the same verdicts.

Offline, fdag's counts match Hamilton's pandas validators (``values_in``, ``allow_nans``, ``max_fraction_nans``)
exactly; Hamilton's pandas ``range`` counts a NaN as out of range where fdag leaves nulls to ``allow_null``, so its
``out_range`` is fdag's range failures plus the nulls (the one documented difference). Online, fdag's per-request
results match Hamilton's primitive validators, and ``importance="fail"`` raises where Hamilton raises.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pandas as pd
import polars as pl
import pytest
from hamilton import base, driver
from hamilton.data_quality.base import DataValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from fdag.errors import CheckWarning
from tests.resources import checked, hamilton_checks, hamilton_checks_scalar

DAG = fdag.Dag.from_modules(checked)


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    logging.getLogger("hamilton").setLevel(logging.CRITICAL)  # Hamilton logs each failed warn check
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CheckWarning)
        yield


def _hamilton(module: ModuleType) -> driver.Driver:
    return driver.Builder().with_modules(module).with_adapters(base.DictResult()).build()


SERIES = _hamilton(hamilton_checks)
SCALAR = _hamilton(hamilton_checks_scalar)
# Hamilton's validators are nodes named <node>_<argument>_validator.
VALIDATORS = ["ratio_range_validator", "ratio_allow_nans_validator", "bucket_values_in_validator",
              "bucket_max_fraction_nans_validator"]

amounts = st.one_of(st.none(), st.floats(-80, 160, allow_nan=False), st.sampled_from([0.0, 50.0, 100.0]))
limits = st.one_of(st.none(), st.sampled_from([50.0, 100.0]), st.floats(1, 200, allow_nan=False))  # no 0: pandas
rows = st.lists(st.fixed_dictionaries({"amount": amounts, "limit": limits}), min_size=1, max_size=40)  # gives inf


@settings(max_examples=60, deadline=None)
@given(rows)
def test_offline_counts_and_verdicts_match_hamiltons_pandas_validators(requests: list[dict[str, Any]]) -> None:
    spine = pl.DataFrame(requests, schema={"amount": pl.Float64, "limit": pl.Float64}, orient="row")
    ours = {(c.node, c.check): c for c in fdag.FrameDriver(DAG, ["ratio", "bucket"]).evaluate(spine).checks}
    theirs = SERIES.execute(VALIDATORS, inputs={"amount": pd.Series([r["amount"] for r in requests], dtype=float),
                                                "limit": pd.Series([r["limit"] for r in requests], dtype=float)})
    in_range = theirs["ratio_range_validator"].diagnostics
    nulls = ours["ratio", "allow_null"].failed
    assert in_range["out_range"] == ours["ratio", "range"].failed + nulls  # Hamilton's NaN is out of range
    assert in_range["in_range"] == ours["ratio", "range"].total - ours["ratio", "range"].failed
    assert theirs["ratio_range_validator"].passes == (ours["ratio", "range"].passed and nulls == 0)
    assert theirs["ratio_allow_nans_validator"].diagnostics["total_nan"] == nulls
    assert theirs["ratio_allow_nans_validator"].passes == ours["ratio", "allow_null"].passed
    one_of = theirs["bucket_values_in_validator"]
    assert one_of.diagnostics["incorrect_values_count"] == ours["bucket", "one_of"].failed
    assert one_of.passes == ours["bucket", "one_of"].passed
    fraction = theirs["bucket_max_fraction_nans_validator"]
    assert fraction.diagnostics["total_nan"] == ours["bucket", "max_null_fraction"].failed
    assert fraction.diagnostics["total_length"] == ours["bucket", "max_null_fraction"].total
    assert fraction.passes == ours["bucket", "max_null_fraction"].passed


present = st.fixed_dictionaries({"amount": st.floats(-80, 160, allow_nan=False) | st.sampled_from([0.0, 50.0]),
                                 "limit": st.floats(1, 200, allow_nan=False) | st.sampled_from([50.0, 100.0])})


@settings(max_examples=60, deadline=None)
@given(present)
def test_online_results_match_hamiltons_primitive_validators(request: dict[str, float]) -> None:
    vec = fdag.RowDriver(DAG, ["ratio", "steps"]).get(request)
    ours = {(c.node, c.check): c for c in vec.checks}
    theirs = SCALAR.execute(["ratio_range_validator", "ratio_allow_none_validator", "steps_range_validator"],
                            inputs=request)
    assert theirs["ratio_range_validator"].passes == ours["ratio", "range"].passed
    assert theirs["ratio_allow_none_validator"].passes == ours["ratio", "allow_null"].passed
    assert theirs["steps_range_validator"].passes == ours["steps", "range"].passed
    assert {c.total for c in vec.checks} == {1}


FAILING = """
    {imports}

    @check_output(range=(0.0, 1.0), importance="fail")
    def ratio(amount: float, limit: float) -> float:
        return amount / limit
"""


@pytest.mark.parametrize(("amount", "raises"), [(20.0, False), (100.0, False), (120.0, True), (-1.0, True)])
def test_importance_fail_raises_where_hamilton_raises(make_module: Callable[[str, str], ModuleType], amount: float,
                                                      raises: bool) -> None:
    ours = fdag.Dag.from_modules(make_module("fail_fdag", FAILING.format(imports="from fdag import check_output")))
    theirs = _hamilton(make_module("fail_hamilton", FAILING.format(
        imports="from hamilton.function_modifiers import check_output")))
    request = {"amount": amount, "limit": 100.0}
    hamilton_raised = fdag_raised_online = fdag_raised_offline = False
    try:
        theirs.execute(["ratio"], inputs=request)
    except DataValidationError:
        hamilton_raised = True
    try:
        fdag.RowDriver(ours, ["ratio"]).get(request)
    except fdag.CheckError:
        fdag_raised_online = True
    try:
        fdag.FrameDriver(ours, ["ratio"]).evaluate(pl.DataFrame([request]))
    except fdag.CheckError:
        fdag_raised_offline = True
    assert hamilton_raised == fdag_raised_online == fdag_raised_offline == raises
