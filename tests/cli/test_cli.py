"""The fdag command line, run as a user would run it."""

from __future__ import annotations

import json
import re
import signal
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


# ------------------------------------------------------------------------------ errors: one line, never a traceback

def fails(result: subprocess.CompletedProcess[str], message: str, status: int = 1) -> None:
    """The command exited with ``status`` and printed exactly ``fdag: <message>`` (a regex) on stderr."""
    assert result.returncode == status, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(f"fdag: {message}", lines[0]), result.stderr


def test_an_unknown_module_name_is_one_line() -> None:
    fails(run("viz", "tests.resources.nope"),
          r"tests\.resources\.nope is not an importable module \(ModuleNotFoundError: No module named "
          r"'tests\.resources\.nope'\)\. Hint: give a dotted name importable from the working directory .*")


def test_a_module_that_fails_to_import_is_named_with_the_line(tmp_path: Path) -> None:
    (tmp_path / "syntax.py").write_text("def f(x: int) -> int:\n    return x +\n")
    (tmp_path / "raises.py").write_text("LIMIT = 1\nRATE = LIMIT / 0\n")
    (tmp_path / "imports.py").write_text("import not_installed_anywhere\n")
    fails(run("viz", str(tmp_path / "syntax.py")),
          rf".*syntax\.py has a syntax error at {re.escape(str(tmp_path))}/syntax\.py:2: invalid syntax\. "
          r"Hint: fix the code there\.")
    fails(run("check", str(tmp_path / "raises.py")),
          rf".*raises\.py raised ZeroDivisionError while it was imported at {re.escape(str(tmp_path))}/raises\.py:2: "
          r"division by zero\. Hint: fix the module; .*")
    fails(run("catalog", str(tmp_path / "imports.py")),
          r".*imports\.py raised ModuleNotFoundError while it was imported at .*imports\.py:1: No module named "
          r"'not_installed_anywhere'\. Hint: .*")
    fails(run("viz", str(tmp_path / "missing.py")), r".*missing\.py is not a file\. Hint: give the path of a .*")


def test_a_bad_declaration_in_a_module_is_its_own_message(tmp_path: Path) -> None:
    (tmp_path / "declared.py").write_text(
        "from datetime import datetime\nimport fdag\n\n"
        "events = fdag.Source('events', key='k', timestamp='ts', schema={'k': str, 'ts': datetime})\n\n\n"
        "@fdag.window(events, agg='sum', over='1h', closed='middle')\ndef k(k: str) -> int:\n    return 1\n")
    fails(run("viz", str(tmp_path / "declared.py")),
          r"closed='middle' is not 'left' or 'both'\. Hint: 'left' is \[t-w, t\), 'both' is \[t-w, t\]\.")


def test_a_dag_with_several_problems_lists_them_after_the_first_line() -> None:
    result = run("check", "tests.resources.broken")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    first, *problems = result.stderr.splitlines()
    assert first == "fdag: 7 problems in the DAG:"
    assert len(problems) == 7 and all(re.match(r"  \d\. feature '\w+' \(.*\) .*\. Hint: ", p) for p in problems)


def test_unknown_outputs_and_bad_options_are_one_line(tmp_path: Path) -> None:
    fails(run("viz", "--outputs", "ratoi", "tests.resources.tiny"),
          r"feature 'ratoi' is requested as an output but no function defines it\. Hint: did you mean 'ratio'\?")
    fails(run("backfill", "tests.resources.tiny", "--spine", "s.parquet", "--out", str(tmp_path), "--source",
              "transactions"),
          r"--source='transactions' is not NAME=PATH\. Hint: write e\.g\. fdag backfill \.\.\. "
          r"--source transactions=events\.parquet\.")


def test_missing_and_broken_parquet_files_are_one_line(tmp_path: Path) -> None:
    spine = tmp_path / "spine.parquet"
    pl.DataFrame({"x": [1], "y": [2.0], "as_of": [datetime(2024, 3, 1, tzinfo=UTC)]}).write_parquet(spine)
    garbage = tmp_path / "garbage.parquet"
    garbage.write_bytes(b"not parquet at all")
    args = ["backfill", "fdag.demo.fraud", "--out", str(tmp_path / "out"), "--no-progress"]
    fails(run(*args, "--spine", str(tmp_path / "none.parquet")),
          rf"input 'spine' is the path '{re.escape(str(tmp_path))}/none\.parquet', which holds no readable Parquet "
          r"\(.*\)\. Hint: pass the path of a Parquet file, directory or glob, or a frame\.")
    fails(run(*args, "--spine", str(garbage)), r"input 'spine' is the path .*garbage\.parquet', which holds no "
                                                r"readable Parquet \(.*\)\. Hint: .*")
    fails(run(*args, "--spine", str(spine), "--source", f"transactions={garbage}"),
          r"input 'events of source 'transactions'' is the path .*garbage\.parquet', which holds no readable "
          r"Parquet \(.*\)\. Hint: .*")
    fails(run(*args, "--spine", str(spine), "--source", f"transactions={spine}"),
          r"input 'amount' is missing from the spine \(it has: x, y, as_of\)\. Hint: add a 'amount' column .*")


def test_outputs_before_the_module_work_for_every_command(tmp_path: Path) -> None:
    viz = run("viz", "--outputs", "doubled", "tests.resources.tiny")
    assert viz.returncode == 0 and viz.stdout.startswith("digraph fdag {") and '"ratio"' not in viz.stdout
    check = run("check", "--outputs", "ratio,doubled", "tests.resources.tiny", "--examples", "5")
    assert check.returncode == 0 and "agree on 2 nodes" in check.stdout, check.stderr  # ratio, doubled
    catalog = run("catalog", "--outputs", "doubled", "--format", "json", "tests.resources.tiny")
    assert [r["name"] for r in json.loads(catalog.stdout)] == ["doubled"]
    pl.DataFrame({"x": [1, 2], "y": [1.0, 2.0], "as_of": [datetime(2024, 3, 1, tzinfo=UTC)] * 2}).write_parquet(
        tmp_path / "spine.parquet")
    fill = run("backfill", "--outputs", "ratio", "--outputs", "doubled", "tests.resources.tiny", "--spine",
               str(tmp_path / "spine.parquet"), "--out", str(tmp_path / "out"), "--no-progress")
    assert fill.returncode == 0, fill.stderr
    written = pl.read_parquet(tmp_path / "out" / "as_of_date=2024-03-01" / "part-0.parquet")
    assert written.columns == ["x", "y", "as_of", "ratio", "doubled"]


def test_ctrl_c_exits_130_quietly(tmp_path: Path) -> None:
    (tmp_path / "slow.py").write_text("import time\n\nprint('importing', flush=True)\ntime.sleep(60)\n")
    process = subprocess.Popen([sys.executable, "-m", "fdag", "viz", str(tmp_path / "slow.py")], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None and process.stdout.readline() == "importing\n"
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130 and out == "" and err == ""


def test_an_unexpected_error_is_one_line_unless_a_traceback_is_asked_for(tmp_path: Path) -> None:
    (tmp_path / "buggy.py").write_text(  # stands for a bug: something raises that no fdag error describes
        "import fdag\n\n\ndef _broken(self, outputs=None):\n    raise RuntimeError('something fdag did not foresee')"
        "\n\n\nfdag.Dag.to_dot = _broken\n\n\ndef f(x: int) -> int:\n    return x\n")
    fails(run("viz", str(tmp_path / "buggy.py")),
          r"unexpected RuntimeError: something fdag did not foresee \(a bug in fdag or in a feature module; "
          r"--traceback shows where it was raised\)")
    shown = run("--traceback", "viz", str(tmp_path / "buggy.py"))
    assert shown.returncode == 1 and "Traceback" in shown.stderr and "_broken" in shown.stderr
