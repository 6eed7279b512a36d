"""FrameDriver specifics: spines in any format, order and columns kept, explain, errors, bad spines."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

import fdag
from fdag.errors import InputTypeError, MissingInputError
from tests.resources import semantics, tiny

UTC = UTC
DAG = fdag.Dag.from_modules(tiny)
SPINE = pl.DataFrame({"id": [3, 1, 2], "x": [1, 2, 3], "y": [2.0, 0.0, 4.0], "name": ["a", None, "c"]})


@pytest.mark.parametrize("convert", [lambda f: f, lambda f: f.to_pandas(), lambda f: f.to_arrow(), lambda f: f.lazy()],
                         ids=["polars", "pandas", "arrow", "lazy"])
def test_spines_in_any_format_keep_columns_and_order(convert) -> None:  # type: ignore[no-untyped-def]
    out = fdag.FrameDriver(DAG, ["ratio", "label"]).run(convert(SPINE))
    assert out.columns == ["id", "x", "y", "name", "ratio", "label"]
    assert out["id"].to_list() == [3, 1, 2]
    assert out["ratio"].to_list() == [1.0, None, 1.5]
    assert out["label"].to_list() == ["small", "none", "small"]


def test_errors_are_counted_per_node_and_type() -> None:
    frame = fdag.FrameDriver(DAG, ["ratio"])
    result = frame.evaluate(pl.concat([SPINE, SPINE]))
    assert [(e.node, e.type, e.count) for e in result.errors] == [("ratio", "ZeroDivisionError", 2)]
    assert result.table.equals(frame.run(pl.concat([SPINE, SPINE])))
    assert not hasattr(frame, "errors")


def test_errors_raise_names_the_first_failing_row() -> None:
    frame = fdag.FrameDriver(DAG, ["ratio"], errors="raise")
    with pytest.raises(fdag.FeatureError, match=r"feature 'ratio' .* raised ZeroDivisionError: .* for row "
                       r"\{'id': 1, 'x': 2, 'y': 0\.0"):
        frame.run(SPINE)


def test_missing_spine_column_is_named() -> None:
    with pytest.raises(MissingInputError, match=r"input 'y' is missing from the spine \(it has: id, x\)\. "
                       r"Hint: add a 'y' column of type float"):
        fdag.FrameDriver(DAG, ["ratio"]).run(SPINE.select("id", "x"))


def test_wrong_spine_dtype_is_named() -> None:
    with pytest.raises(InputTypeError, match=r"input 'x' is a String column in the spine but is declared 'int'"):
        fdag.FrameDriver(DAG, ["doubled"]).run(pl.DataFrame({"x": ["1"]}))


def test_output_clashing_with_a_spine_column() -> None:
    with pytest.raises(fdag.InputError, match="'doubled' is both a spine column and a requested output"):
        fdag.FrameDriver(DAG, ["doubled"]).run(pl.DataFrame({"x": [1], "doubled": [0]}))


def test_nan_in_a_float_column_is_null() -> None:
    out = fdag.FrameDriver(DAG, ["ratio"]).run(pl.DataFrame({"x": [1], "y": [float("nan")]}))
    assert out["ratio"].to_list() == [None]


def test_naive_and_aware_as_of_columns_are_utc() -> None:
    frame = fdag.FrameDriver(fdag.Dag.from_modules(semantics), ["hour"])
    naive = pl.DataFrame({"as_of": [datetime(2024, 1, 1, 5)]})
    aware = naive.with_columns(pl.col("as_of").dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Tokyo"))
    assert frame.run(naive)["hour"].to_list() == [5]
    assert frame.run(aware)["hour"].to_list() == [5]
    assert frame.run(pd.DataFrame({"as_of": [datetime(2024, 1, 1, 5, tzinfo=UTC)]}))["hour"].to_list() == [5]
    assert frame.run(pa.table({"as_of": [datetime(2024, 1, 1, 5)]}))["hour"].to_list() == [5]


def test_explain_lists_translated_and_fallback_nodes_with_reasons() -> None:
    frame = fdag.FrameDriver(fdag.Dag.from_modules(semantics), ["true_div", "two_places"])
    how = {e.node: e for e in frame.explanations()}
    assert how["true_div"].how == "translated"
    assert how["two_places"].how == "fallback" and "round" in how["two_places"].reason
    assert "two_places: fallback (" in frame.explain()
