"""FrameDriver computes fast forms without their Python patches and checks, per run, that no row needed one.

``lower()``/``upper()`` of non-ASCII text and float ``%`` beyond 2**51 are where Polars' own result may not be
CPython's. The driver computes the fast form beside a column marking those rows; when a run marks any, it runs
again with those features patched (and keeps them patched). The oracle is CPython itself, row by row.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime
from typing import Any

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

import fdag
from tests.resources import texts

DAG = fdag.Dag.from_modules(texts)
AT = datetime(2024, 5, 1, tzinfo=UTC)
OUTPUTS = ["label", "shout", "same_country", "round_hundred", "cents_left"]


def _python(row: dict[str, Any]) -> dict[str, Any]:
    """CPython's values, with fdag's rule for floats: a NaN input or result is null (a NaN input skips the call)."""
    label = texts.label(row["name"])
    amount = row["amount"]
    left = None if math.isnan(amount) else texts.cents_left(amount)
    return {"label": label, "shout": texts.shout(label),
            "same_country": texts.same_country(row["card_country"], row["merchant_country"]),
            "round_hundred": None if math.isnan(amount) else texts.round_hundred(amount),
            "cents_left": None if left is None or math.isnan(left) else left}


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"name": pl.String, "card_country": pl.String, "merchant_country": pl.String,
                                      "amount": pl.Float64})


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return struct.pack("<d", a) == struct.pack("<d", b) or (math.isnan(a) and math.isnan(b))
    return type(a) is type(b) and a == b


def _python_udfs(driver: fdag.FrameDriver) -> int:
    return sum("python_udf" in str(e) for context in driver._contexts_for(driver._exact) for e in context)


ASCII = {"name": " Gambling ", "card_country": "fr", "merchant_country": "FR", "amount": 300.0}


def test_on_ascii_text_and_small_amounts_no_python_runs() -> None:
    frame = fdag.FrameDriver(DAG, OUTPUTS)
    assert _python_udfs(frame) == 0  # the plan a run starts with patches nothing
    rows = [ASCII, {**ASCII, "amount": 301.5, "name": "x\t"}]
    got = frame.evaluate(_frame(rows).with_columns(as_of=pl.lit(AT))).table.to_dicts()
    assert got == [{**row, "as_of": AT, **_python(row)} for row in rows]
    assert frame._exact == frozenset()  # no assumption failed: the run was not repeated


def test_a_row_beyond_the_fast_path_makes_the_run_exact_and_keeps_that_feature_patched() -> None:
    frame = fdag.FrameDriver(DAG, OUTPUTS)
    # 'ǅ' upper-cases differently in Rust's tables: the label is fine, its upper() not
    rows = [ASCII, {**ASCII, "name": "\u01c5a\u1c89 ", "amount": 2.0**60}]
    got = frame.evaluate(_frame(rows).with_columns(as_of=pl.lit(AT))).table.to_dicts()
    for row, vector in zip(rows, got, strict=True):
        assert all(_same(vector[name], value) for name, value in _python(row).items()), (row, vector)
    assert frame._exact == {"label", "shout", "round_hundred", "cents_left"}
    assert _python_udfs(frame) > 0
    again = frame.evaluate(_frame([ASCII]).with_columns(as_of=pl.lit(AT))).table.to_dicts()
    assert again == [{**ASCII, "as_of": AT, **_python(ASCII)}]


def test_the_fast_forms_alone_would_differ_on_those_rows() -> None:
    # what makes the tests here able to fail: without the check, the optimistic plan's values are wrong
    frame = fdag.FrameDriver(DAG, OUTPUTS)
    row = {**ASCII, "name": "\u1c89", "amount": 2.0**60}
    lazy = frame._inputs(_frame([row]), "as_of").lazy()
    for context in frame._contexts_for(frozenset()):
        lazy = lazy.with_columns(context)
    fast = lazy.collect().row(0, named=True)
    assert fast["label"] != texts.label(row["name"]) and fast["cents_left"] != texts.cents_left(row["amount"])


TEXT = st.one_of(st.text(alphabet="aZ \t\x1c\u03a3\u03c3\u0130\u00df\u01c5\u1c89\ua7cb", max_size=5),
                 st.text(alphabet="abcXYZ -", max_size=5), st.text(max_size=4))
AMOUNT = st.one_of(st.floats(-1e6, 1e6), st.sampled_from([2.0**51, -(2.0**60), 1e300, math.inf, math.nan, -0.0]))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({"name": TEXT, "card_country": TEXT, "merchant_country": TEXT,
                                       "amount": AMOUNT}), min_size=1, max_size=12), st.integers(1, 3))
def test_every_engine_run_equals_cpython(rows: list[dict[str, Any]], runs: int) -> None:
    frame = fdag.FrameDriver(DAG, OUTPUTS)
    for _ in range(runs):  # later runs start from what the earlier ones patched
        got = frame.evaluate(_frame(rows).with_columns(as_of=pl.lit(AT))).table.to_dicts()
        for row, vector in zip(rows, got, strict=True):
            for name, value in _python(row).items():
                assert _same(vector[name], value), (name, row, vector[name], value)
