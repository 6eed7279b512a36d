"""``fdag backfill`` prints the checks that failed over the whole backfill, once each, after its summary line."""

from __future__ import annotations

from pathlib import Path

import pytest

from fdag.cli import main
from tests.backfill.test_backfill_checks import SPINE


def test_backfill_prints_each_failed_check_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    SPINE.write_parquet(tmp_path / "spine.parquet")
    assert main(["backfill", "tests/resources/checked.py", "--outputs", "bucket,steps", "--spine",
                 str(tmp_path / "spine.parquet"), "--out", str(tmp_path / "out"), "--no-progress"]) == 0
    out = capsys.readouterr()
    assert out.out.startswith("3 partitions written, 0 skipped (up to date), 12 rows in ")
    assert out.err.splitlines() == [
        "fdag: check failed: ratio: range: 1 of 11 values failed",
        "fdag: check failed: ratio: allow_null: 1 of 12 values failed",
        "fdag: check failed: bucket: one_of: 1 of 11 values failed",
        "fdag: check failed: steps: range: 2 of 11 values failed",
    ]
