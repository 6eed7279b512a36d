"""What a failed check does: ``warn`` records and warns (``CheckWarning``), ``fail`` raises ``CheckError``; both
engines, messages pinned."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

import fdag
from fdag.errors import CheckWarning

MODULE = """
    import fdag

    @fdag.check_output(range=(0.0, 1.0), importance="fail")
    def share(amount: float, limit: float) -> float:
        return amount / limit

    @fdag.check_output(one_of=["a", "b"], allow_null=False)
    def code(label: str | None) -> str | None:
        return label

    @fdag.check_output(max_null_fraction=0.5, importance="fail")
    def maybe(label: str | None) -> str | None:
        return label
"""


@pytest.fixture
def dag(make_module: Callable[[str, str], ModuleType], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> fdag.Dag:
    monkeypatch.chdir(tmp_path)  # locations read 'outcomes.py:4'
    return fdag.Dag.from_modules(make_module("outcomes", MODULE))


def test_a_failed_fail_check_raises_online_with_the_value(dag: fdag.Dag) -> None:
    row = fdag.RowDriver(dag, ["share"])
    assert row.get({"amount": 5.0, "limit": 10.0}).checks == (fdag.CheckResult("share", "range", 0, 1),)
    with pytest.raises(fdag.CheckError, match="^" + re.escape(
            "feature 'share' (outcomes.py:4) failed its check range [0.0, 1.0]: 1 of 1 values failed (e.g. 2.0). "
            "Hint: fix the feature or its inputs, or declare the check with importance='warn' to record failures "
            "(CheckResult) without raising.") + "$") as caught:
        row.get({"amount": 20.0, "limit": 10.0})
    error = caught.value
    assert (error.node, error.check, error.failed, error.total, error.example) == ("share", "range", 1, 1, 2.0)


def test_a_failed_fail_check_raises_offline_after_counting_every_row(dag: fdag.Dag) -> None:
    spine = pl.DataFrame({"amount": [5.0, 20.0, None, 30.0], "limit": [10.0, 10.0, 1.0, 10.0]})
    with pytest.raises(fdag.CheckError, match=re.escape(
            "feature 'share' (outcomes.py:4) failed its check range [0.0, 1.0]: 2 of 3 values failed (e.g. 2.0).")):
        fdag.FrameDriver(dag, ["share"]).evaluate(spine)


def test_a_failed_warn_check_warns_and_is_recorded(dag: fdag.Dag) -> None:
    spine = pl.DataFrame({"label": ["a", "z", None, "b"]})
    with pytest.warns(CheckWarning) as caught:
        result = fdag.FrameDriver(dag, ["code"]).evaluate(spine)
    assert [str(w.message) for w in caught] == [
        "feature 'code' (outcomes.py:8) failed its check one_of ['a', 'b']: 1 of 3 values failed (e.g. 'z'). Hint: fix "
        "the feature or its inputs; importance='fail' raises CheckError instead.",
        "feature 'code' (outcomes.py:8) failed its check allow_null=False: 1 of 4 values are null. Hint: fix the "
        "feature or its inputs; importance='fail' raises CheckError instead.",
    ]
    assert caught[0].filename == __file__  # the warning names the caller's line, not fdag's
    assert result.checks == (fdag.CheckResult("code", "one_of", 1, 3), fdag.CheckResult("code", "allow_null", 1, 4))
    assert result.table["code"].to_list() == ["a", "z", None, "b"]  # values are never changed by a check
    assert "checks=['code: one_of: 1 of 3 values failed', 'code: allow_null: 1 of 4 values failed']" in repr(result)


def test_online_warnings_carry_no_value_so_serving_does_not_grow_the_registry(dag: fdag.Dag) -> None:
    row = fdag.RowDriver(dag, ["code"])
    with pytest.warns(CheckWarning) as caught:
        vec = row.get({"label": "z"})
        row.get({"label": "y"})
    assert {str(w.message) for w in caught} == {
        "feature 'code' (outcomes.py:8) failed its check one_of ['a', 'b']: 1 of 1 values failed. Hint: fix the "
        "feature or its inputs; importance='fail' raises CheckError instead."}
    assert caught[0].filename == __file__
    assert vec.checks == (fdag.CheckResult("code", "one_of", 1, 1), fdag.CheckResult("code", "allow_null", 0, 1))
    assert repr(vec) == "FeatureVector({'code': 'z'}, failed checks=['code: one_of: 1 of 1 values failed'])"


def test_max_null_fraction_is_judged_offline_only(dag: fdag.Dag) -> None:
    frame = fdag.FrameDriver(dag, ["maybe"])
    result = frame.evaluate(pl.DataFrame({"label": ["a", None]}))  # half null: at most half allowed
    assert result.checks == (fdag.CheckResult("maybe", "max_null_fraction", 1, 2, True),)
    assert str(result.checks[0]) == "maybe: max_null_fraction: 1 of 2 values failed (within the allowed fraction)"
    assert frame.evaluate(pl.DataFrame({"label": []}, schema={"label": pl.String})).checks[0].passed  # empty passes
    with pytest.raises(fdag.CheckError, match=re.escape(
            "feature 'maybe' (outcomes.py:12) failed its check max_null_fraction 0.5: 2 of 3 values are null. Hint:")):
        frame.evaluate(pl.DataFrame({"label": ["a", None, None]}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fdag.RowDriver(dag, ["maybe"]).get({"label": None}).checks == ()  # no fraction of one value


def test_errors_raise_before_checks(dag: fdag.Dag) -> None:
    row = fdag.RowDriver(dag, ["share"], errors="raise")
    with pytest.raises(fdag.FeatureError, match="ZeroDivisionError"):
        row.get({"amount": 20.0, "limit": 0.0})
    assert fdag.RowDriver(dag, ["share"]).get({"amount": 20.0, "limit": 0.0}).checks == (
        fdag.CheckResult("share", "range", 0, 0),)  # an error's null is not judged by range


def test_provenance_explains_a_value_that_fails_its_check(dag: fdag.Dag) -> None:
    request = {"amount": 20.0, "limit": 10.0}
    at = datetime(2024, 3, 1, tzinfo=UTC)
    assert fdag.RowDriver(dag, ["share"]).provenance(request, "share", as_of=at).value == 2.0
    assert fdag.FrameDriver(dag, ["share"]).provenance({**request, "as_of": at}, "share").value == 2.0
