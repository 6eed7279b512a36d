"""Checks in a backfill: each batch of partitions is one run (warned about, or raised before it is written), and
the report sums the batches' results (``max_null_fraction`` judged again over the sums)."""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest

import fdag
from fdag.errors import CheckWarning
from tests.resources import checked

DAY = datetime(2024, 3, 1, 12, tzinfo=UTC)
# Three days of four rows each; day 2 holds the only ratio above 1 and the only nulls.
SPINE = pl.DataFrame({
    "amount": [10.0, 20.0, 30.0, 40.0, 150.0, None, 5.0, 60.0, 1.0, 2.0, 3.0, 4.0],
    "limit": [100.0] * 12,
    "as_of": [DAY + timedelta(days=d, minutes=m) for d in range(3) for m in range(4)],
})


def test_the_report_sums_the_batches_checks(tmp_path: Path) -> None:
    frame = fdag.FrameDriver(fdag.Dag.from_modules(checked), ["bucket", "steps"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CheckWarning)
        whole = frame.evaluate(SPINE).checks
        report = frame.backfill(SPINE, None, tmp_path, progress=False, batch_rows=4)  # one day per batch
    assert report.partitions_written == 3
    assert report.checks == whole
    assert {(c.node, c.check): c.failed for c in report.checks} == {
        ("bucket", "one_of"): 1, ("bucket", "max_null_fraction"): 1, ("ratio", "range"): 1,
        ("ratio", "allow_null"): 1, ("steps", "range"): 2}
    # Warned by the run over the whole spine (4 failed checks), then by the one batch (day 2) that fails them.
    messages = [str(w.message).split(". Hint")[0] for w in caught]
    assert messages[4:] == [
        "feature 'ratio' (tests/resources/checked.py:18) failed its check range [0.0, 1.0]: 1 of 3 values failed",
        "feature 'ratio' (tests/resources/checked.py:18) failed its check allow_null=False: 1 of 4 values are null",
        "feature 'bucket' (tests/resources/checked.py:24) failed its check one_of ['low', 'mid', 'high']: 1 of 3 "
        "values failed",
        "feature 'steps' (tests/resources/checked.py:33) failed its check range [-5, 5]: 2 of 3 values failed"]
    assert len(messages) == 8 and caught[4].filename == __file__
    again = frame.backfill(SPINE, None, tmp_path, progress=False, batch_rows=4)
    assert again.partitions_written == 0 and {c.total for c in again.checks} == {0}  # nothing computed, nothing checked


def test_a_fail_check_stops_the_backfill_before_the_failing_batch_is_written(
        make_module: Callable[[str, str], ModuleType], tmp_path: Path) -> None:
    module = make_module("failing_checks", """
        import fdag

        @fdag.check_output(range=(0.0, 1.0), importance="fail")
        def share(amount: float, limit: float) -> float:
            return amount / limit
    """)
    frame = fdag.FrameDriver(fdag.Dag.from_modules(module), ["share"])
    with pytest.raises(fdag.CheckError, match=re.escape("failed its check range [0.0, 1.0]: 1 of 3 values failed. ")):
        frame.backfill(SPINE, None, tmp_path, progress=False, batch_rows=4)
    assert sorted(p.parent.name for p in tmp_path.glob("*/*.parquet")) == ["as_of_date=2024-03-01"]
