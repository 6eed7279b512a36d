"""The fdag command line, run as a user would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

import fdag
from fdag.cli import main
from tests.conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fdag", *args], cwd=ROOT, capture_output=True, text=True)


def test_help_lists_every_command() -> None:
    result = run("--help")
    assert result.returncode == 0
    for command in ("viz", "check", "catalog", "demo"):
        assert command in result.stdout


def test_viz_prints_dot_and_writes_images(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["viz", "tests.resources.tiny"]) == 0
    assert capsys.readouterr().out.startswith("digraph fdag {")
    assert main(["viz", "tests/resources/tiny.py", "-o", str(tmp_path / "g.dot")]) == 0
    assert (tmp_path / "g.dot").read_text().startswith("digraph fdag {")


def test_check_reports_agreement(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "tests.resources.tiny", "--examples", "20"]) == 0
    assert "ok: RowDriver and FrameDriver agree on 3 nodes" in capsys.readouterr().out


def test_catalog_as_json_and_markdown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "tests.resources.tiny", "--format", "json"]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in records] == ["doubled", "ratio", "label"]
    assert records[1]["tags"] == {"owner": "tests", "tier": 1} and records[1]["upstream"] == ["doubled", "y"]
    assert main(["catalog", "tests.resources.tiny"]) == 0
    assert "| `doubled` | int |" in capsys.readouterr().out


def test_an_invalid_dag_prints_the_problems_and_exits_1() -> None:
    result = run("viz", "tests.resources.cyclic")
    assert result.returncode == 1
    assert "fdag: feature 'a'" in result.stderr and "cycle: a -> b -> c -> a" in result.stderr


def test_backfill_writes_partitions_then_skips_them(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fdag.demo.samples import transactions

    events = transactions(users=20, count=400, days=3)
    events.write_parquet(tmp_path / "events.parquet")
    spine = events.unique("txn_id").head(50).select("user_id", "amount", "merchant", as_of="ts")
    spine.write_parquet(tmp_path / "spine.parquet")
    args = ["backfill", "fdag.demo.fraud", "--spine", str(tmp_path / "spine.parquet"),
            "--source", f"transactions={tmp_path / 'events.parquet'}", "--out", str(tmp_path / "out"),
            "--outputs", "spend_sum_1h", "--no-progress"]
    assert main(args) == 0
    first = capsys.readouterr().out
    assert main(args) == 0
    second = capsys.readouterr().out
    days = spine["as_of"].dt.date().n_unique()
    assert first.startswith(f"{days} partitions written, 0 skipped") and ", 50 rows" in first
    assert second.startswith(f"0 partitions written, {days} skipped")


def test_backfill_reports_the_errors_that_became_nulls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spine = pl.DataFrame({"x": [1, 2, 3], "y": [0.0, 1.0, 0.0],
                          "as_of": [datetime(2024, 3, 1, tzinfo=UTC), datetime(2024, 3, 2, tzinfo=UTC),
                                    datetime(2024, 3, 2, 12, tzinfo=UTC)]})
    spine.write_parquet(tmp_path / "spine.parquet")
    args = ["backfill", "tests.resources.tiny", "--spine", str(tmp_path / "spine.parquet"), "--out",
            str(tmp_path / "out"), "--outputs", "ratio", "--no-progress"]
    assert main(args) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith("2 partitions written, 0 skipped") and ", 3 rows" in printed.out
    # Two rows, on two days, divide by zero: one record counts both.
    assert printed.err == "fdag: feature error (value set to null): ratio: ZeroDivisionError: float division by " \
                          "zero (2 rows)\n"


def test_viz_loads_a_module_from_its_path_anywhere(tmp_path: Path) -> None:
    folder = tmp_path / "my features"
    folder.mkdir()
    (folder / "rates.py").write_text("FEE = 0.02\n")
    (folder / "pricing.py").write_text(
        "from rates import FEE\n\n\n"
        "def fee(amount: float) -> float:\n    return amount * FEE\n\n\n"
        "def total(amount: float, fee: float) -> float:\n    return amount + fee\n")
    result = subprocess.run([sys.executable, "-m", "fdag", "viz", str(folder / "pricing.py")], cwd=tmp_path,
                            capture_output=True, text=True, env={"PYTHONPATH": str(ROOT)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("digraph fdag {") and '"fee" -> "total"' in result.stdout
    missing = run("viz", str(folder / "nothing.py"))
    assert missing.returncode == 1 and "nothing.py is not a file. Hint:" in missing.stderr


def test_version() -> None:
    result = run("--version")
    assert result.returncode == 0 and result.stdout == f"fdag {fdag.__version__}\n"
