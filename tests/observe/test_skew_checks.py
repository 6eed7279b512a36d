"""Skew recomputes served vectors to compare them: a check that fails on them records, it never stops the report."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import fdag

SOURCE = """
    import fdag

    @fdag.check_output(range=(0.0, 1.0), importance="{importance}")
    def share(amount: float, limit: float) -> float:
        return amount / limit
"""


def test_skew_recomputes_without_warning_or_raising(make_module: Callable[[str, str], ModuleType],
                                                    tmp_path: Path) -> None:
    served = fdag.Dag.from_modules(make_module("served_checks", SOURCE.format(importance="warn")))
    with warnings.catch_warnings(record=True) as caught, fdag.FeatureLog(tmp_path / "log") as log:
        warnings.simplefilter("always")
        fdag.RowDriver(served, log=log).get({"amount": 150.0, "limit": 100.0}, as_of=datetime(2024, 3, 1, tzinfo=UTC))
    assert [type(w.message).__name__ for w in caught] == ["CheckWarning"]  # served, with its warning
    # Since then the check became "fail": the same version (checks change no value), so the log is comparable.
    strict = fdag.Dag.from_modules(make_module("served_checks", SOURCE.format(importance="fail")))
    assert strict.version("share") == served.version("share")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = fdag.skew(strict, tmp_path / "log")
    assert report.ok and report.rows == 1
