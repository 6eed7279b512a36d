"""The Airflow integration, run with real Airflow in-process (``dag.test()``): its Parquet equals ``FrameDriver.run``.

Airflow lives in its own venv (``.venv-airflow``, see tests/integrations/run.sh); without it these tests skip, and
``FDAG_REQUIRE_INTEGRATIONS=airflow`` turns that skip into a failure (CI). Airflow reads ``AIRFLOW_HOME`` when it is
first imported, so the module fixture points it at a fresh SQLite home before anything imports ``airflow``.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import fdag
from fdag.demo import fraud
from fdag.demo.samples import transactions
from fdag.errors import MissingDependencyError

HAVE_AIRFLOW = importlib.util.find_spec("airflow") is not None
if not HAVE_AIRFLOW and "airflow" in os.environ.get("FDAG_REQUIRE_INTEGRATIONS", ""):
    pytest.fail("airflow is required here (FDAG_REQUIRE_INTEGRATIONS) but not installed", pytrace=False)
needs_airflow = pytest.mark.skipif(
    not HAVE_AIRFLOW, reason="airflow is not installed (it has its own venv: see tests/integrations/run.sh)"
)


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A fresh AIRFLOW_HOME with a migrated SQLite database, set before Airflow is imported."""
    home = tmp_path_factory.mktemp("airflow_home")
    # dag.test() runs only DAGs found in a bundle: a dags folder whose one file re-exports the example DAG.
    (home / "dags").mkdir()
    (home / "dags" / "fdag_fraud.py").write_text("from drivers.airflow_dag import fraud_features_dag  # noqa: F401\n")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW_HOME", str(home))
        patch.setenv("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(home / "dags"))
        patch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{home / 'airflow.db'}")
        patch.setenv("FDAG_AIRFLOW_DATA", str(home / "data"))
        if "airflow" in sys.modules:
            pytest.fail("airflow was imported before its test home was set; run this module on its own")
        subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
        yield home


@pytest.fixture(scope="module")
def example_dag(airflow_home: Path) -> Iterator[ModuleType]:
    """``drivers.airflow_dag``, imported under the test home (so its data goes there too)."""
    sys.modules.pop("drivers.airflow_dag", None)
    yield importlib.import_module("drivers.airflow_dag")
    sys.modules.pop("drivers.airflow_dag", None)


@needs_airflow
def test_example_dag_writes_the_days_features(example_dag: ModuleType, airflow_home: Path) -> None:
    run = example_dag.fraud_features_dag.test(logical_date=datetime(2024, 3, 5, tzinfo=UTC))

    assert run.state == "success", run.state
    file = example_dag.DATA / "features" / "as_of_date=2024-03-05" / "part-0.parquet"
    written = pl.read_parquet(file, hive_partitioning=False)
    events = transactions(users=200, count=10_000, days=20)
    spine = (events.unique("txn_id", keep="first").sort("ts", "txn_id")
             .filter(pl.col("ts").dt.date() == datetime(2024, 3, 5).date())
             .select("txn_id", "user_id", "amount", "merchant", pl.col("ts").alias("as_of")))
    dag = fdag.Dag.from_modules(fraud)
    want = fdag.FrameDriver(dag, example_dag.OUTPUTS).run(spine, sources={"transactions": events})
    assert want.height > 100
    assert_frame_equal(written, want)
    stored = json.loads(pl.read_parquet_metadata(file)["fdag"])
    assert stored["versions"]["burst_ratio"] == dag.version("burst_ratio")


@needs_airflow
def test_compute_features_without_a_day_backfills_every_day(airflow_home: Path, tmp_path: Path) -> None:
    from fdag.integrations.airflow import compute_features

    events = transactions(users=30, count=600, days=4)
    spine = (events.unique("txn_id", keep="first").sort("txn_id")
             .select("user_id", "amount", pl.col("ts").alias("as_of")))
    events.write_parquet(tmp_path / "events.parquet")
    spine.write_parquet(tmp_path / "spine.parquet")

    summary = compute_features("fdag.demo.fraud", ["spend_sum_1h", "amount_vs_mean_10d"],
                               str(tmp_path / "spine.parquet"), {"transactions": str(tmp_path / "events.parquet")},
                               str(tmp_path / "out"))

    want = fdag.FrameDriver(fdag.Dag.from_modules(fraud), ["spend_sum_1h", "amount_vs_mean_10d"]).run(
        spine, sources={"transactions": events})
    days = sorted({f"as_of_date={day}" for day in want["as_of"].dt.date()})
    assert summary["files"] == [str(tmp_path / "out" / day / "part-0.parquet") for day in days]
    assert summary["row_count"] == want.height
    written = pl.concat([pl.read_parquet(file, hive_partitioning=False) for file in summary["files"]])
    assert_frame_equal(written, want.sort(pl.col("as_of").dt.date(), maintain_order=True))
    json.dumps(summary)  # an XCom must be JSON


def test_missing_airflow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [name for name in sys.modules if name.startswith("airflow.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "airflow", None)  # makes `import airflow...` fail as if it were not installed
    monkeypatch.delitem(sys.modules, "fdag.integrations.airflow", raising=False)
    with pytest.raises(MissingDependencyError, match=r"Hint: pip install 'fdag\[airflow\]'") as caught:
        importlib.import_module("fdag.integrations.airflow")
    assert isinstance(caught.value, ImportError)
