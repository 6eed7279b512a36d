"""Parity with Apache Hamilton: a module written with Hamilton's decorators (config.when/when_in/when_not,
parameterize with value/source, extract_fields, hamilton_exclude, default arguments) and its fdag twin give the
same values on generated inputs, for several configs; both fdag engines agree with Hamilton and with each other."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import polars as pl
import pytest
from hamilton import driver
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from tests.resources import pricing_fdag, pricing_hamilton

CONFIGS = [
    {"region": "eu", "tier": "gold"},
    {"region": "eu", "tier": "basic"},
    {"region": "us", "tier": "gold"},
    {"region": "ca", "tier": "basic"},
    {"region": "uk", "tier": "gold"},
]
AT = datetime(2024, 3, 1, tzinfo=UTC)
finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)
rows = st.lists(st.fixed_dictionaries({"net": finite, "credit_limit": finite},
                                      optional={"fee_rate": st.floats(0, 1, allow_nan=False)}), min_size=1, max_size=6)


def _hamilton(config: dict[str, Any]) -> Any:
    return driver.Builder().with_modules(pricing_hamilton).with_config(config).build()


DRIVERS = {i: (_hamilton(c), fdag.Dag.from_modules(pricing_fdag, config=c)) for i, c in enumerate(CONFIGS)}


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b


def test_the_twins_make_the_same_nodes() -> None:
    for hamilton, dag in DRIVERS.values():
        made = {v.name for v in hamilton.list_available_variables()}
        # Hamilton also lists its inputs and config keys, and the dict of extract_fields (not an fdag node)
        assert set(dag.nodes) == made - {"net", "credit_limit", "fee_rate", "region", "tier", "bucket"}
        assert set(dag.inputs) == {"net", "credit_limit", "fee_rate"}
        assert dag.defaults == {"fee_rate": 0.015}


@pytest.mark.parametrize("index", range(len(CONFIGS)), ids=[f"{c['region']}-{c['tier']}" for c in CONFIGS])
@settings(max_examples=25, deadline=None)
@given(requests=rows)
def test_fdag_gives_what_hamilton_gives(index: int, requests: list[dict[str, Any]]) -> None:
    hamilton, dag = DRIVERS[index]
    outputs = list(dag.nodes)
    expected = [hamilton.execute(outputs, inputs=request) for request in requests]
    online = fdag.RowDriver(dag).get_many(requests, as_of=AT)
    for want, vector in zip(expected, online, strict=True):
        assert {name: vector[name] for name in outputs} == {name: want[name] for name in outputs}
    frame = fdag.FrameDriver(dag)
    for given_rate in (True, False):  # the optional input present in the spine, or absent (its default)
        chosen = [r for r in requests if ("fee_rate" in r) == given_rate]
        if not chosen:
            continue
        spine = pl.DataFrame(chosen).with_columns(as_of=pl.lit(AT))
        table = frame.run(spine)
        for want, got in zip([e for e, r in zip(expected, requests, strict=True) if r in chosen], table.to_dicts(),
                             strict=False):
            assert all(_close(got[name], want[name]) for name in outputs), (want, got)


@pytest.mark.parametrize("index", [0, 2])
def test_check_covers_the_new_node_kinds(index: int) -> None:
    fdag.check(DRIVERS[index][1], examples=60)
