"""``fdag demo`` ships in the package: the wheel holds the example and runs it with no repository around."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

# Runs the command line as the `fdag` script does, on a sys.path without any folder that holds the repository's
# drivers/ or feature_modules/ (an editable install of fdag puts a checkout there).
WITHOUT_REPOSITORY = """
import os, sys
sys.path = [p for p in sys.path if not any(os.path.isdir(os.path.join(p or ".", d))
                                           for d in ("drivers", "feature_modules"))]
import fdag.cli
assert fdag.cli.__file__.startswith(sys.argv[1]), fdag.cli.__file__
code = fdag.cli.main(sys.argv[2:])
assert not {"drivers", "feature_modules"} & set(sys.modules)
raise SystemExit(code)
"""


def test_the_wheel_ships_the_demo_and_it_runs_outside_the_repository(tmp_path: Path) -> None:
    pytest.importorskip("hatchling")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path / "wheel"), str(ROOT)], check=True, capture_output=True)
    (wheel,) = (tmp_path / "wheel").glob("fdag-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    assert {f"fdag/demo/{m}.py" for m in ("__init__", "fraud", "payment", "run", "samples")} <= names
    assert not any(name.startswith(("drivers/", "feature_modules/", "tests/")) for name in names)

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    site = str(tmp_path / "site")
    result = subprocess.run([sys.executable, "-c", WITHOUT_REPOSITORY, site, "demo", "--out", "out"], cwd=elsewhere,
                            capture_output=True, text=True, env={"PYTHONPATH": site})
    assert result.returncode == 0, result.stderr
    assert "RowDriver and FrameDriver agree on all 2000 payments" in result.stdout
    assert "0 values differ from the training set" in result.stdout
    assert {p.name for p in (elsewhere / "out").iterdir()} >= {"payment.dot", "fraud_training.parquet"}
