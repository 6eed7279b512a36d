"""The Dagster integration, materialised in-process with real Dagster: each partition equals ``FrameDriver.run``.

Skipped when dagster is not installed; ``FDAG_REQUIRE_INTEGRATIONS=dagster`` turns that skip into a failure (CI).
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import fdag
from fdag.demo import fraud
from fdag.demo.samples import transactions
from fdag.errors import MissingDependencyError
from tests.backfill.test_backfill import spend_call

HAVE_DAGSTER = importlib.util.find_spec("dagster") is not None
if not HAVE_DAGSTER and "dagster" in os.environ.get("FDAG_REQUIRE_INTEGRATIONS", ""):
    pytest.fail("dagster is required here (FDAG_REQUIRE_INTEGRATIONS) but not installed", pytrace=False)
needs_dagster = pytest.mark.skipif(
    not HAVE_DAGSTER, reason="dagster is not installed (pip install 'fdag[dagster]'; see tests/integrations/run.sh)"
)
OUTPUTS = ["spend_count_5m", "spend_sum_1h", "spend_mean_10d", "merchants_1h", "amount_vs_mean_10d", "burst_ratio",
           "last_merchant_10d", "hour_of_day"]


@pytest.fixture(scope="module")
def events() -> pl.DataFrame:
    """A small generated history: 6 days of payments, with bursts and re-sent duplicates."""
    return transactions(users=40, count=1500, days=6)


@pytest.fixture(scope="module")
def spine(events: pl.DataFrame) -> pl.DataFrame:
    """Every distinct payment, scored at its own instant, as naive datetimes (read as UTC)."""
    return (events.unique("txn_id", keep="first").sort("txn_id")
            .select("txn_id", "user_id", "amount", "merchant",
                    pl.col("ts").dt.replace_time_zone(None).alias("as_of")))


def expected(spine: pl.DataFrame, events: pl.DataFrame, start: datetime, end: datetime) -> pl.DataFrame:
    """``FrameDriver.run`` on the spine rows of ``[start, end)`` with every event."""
    naive = (start.replace(tzinfo=None), end.replace(tzinfo=None))
    rows = spine.filter((pl.col("as_of") >= naive[0]) & (pl.col("as_of") < naive[1]))
    return fdag.FrameDriver(fdag.Dag.from_modules(fraud), OUTPUTS).run(rows, sources={"transactions": events})


@needs_dagster
def test_daily_partition_equals_frame_run(events: pl.DataFrame, spine: pl.DataFrame, tmp_path: Path) -> None:
    import dagster as dg

    from fdag.integrations.dagster import feature_assets

    dag = fdag.Dag.from_modules(fraud)
    calls: list[tuple[Any, Any]] = []

    def load_events(start: datetime | None, end: datetime | None) -> pl.DataFrame:
        calls.append((start, end))
        return events

    assets = feature_assets(dag, OUTPUTS, spine=spine, sources={"transactions": load_events},
                            partitions_def=dg.DailyPartitionsDefinition(start_date="2024-03-01", end_date="2024-03-07"),
                            name="fraud_features", path=tmp_path / "features")
    result = dg.materialize([assets], partition_key="2024-03-04")

    assert result.success
    start, end = datetime(2024, 3, 4, tzinfo=UTC), datetime(2024, 3, 5, tzinfo=UTC)
    assert [(s.isoformat(), e.isoformat()) for s, e in calls] == [(start.isoformat(), end.isoformat())]
    want = expected(spine, events, start, end)
    assert want.height > 100
    out = result.output_for_node("fraud_features")
    assert_frame_equal(out, want)
    file = tmp_path / "features" / "as_of_date=2024-03-04" / "part-0.parquet"
    assert_frame_equal(pl.read_parquet(file, hive_partitioning=False), want)

    metadata = result.asset_materializations_for_node("fraud_features")[0].metadata
    assert metadata["dagster/row_count"].value == want.height
    versions = metadata["fdag/versions"].value
    assert versions["amount_vs_mean_10d"] == dag.version("amount_vs_mean_10d")
    assert set(versions) >= set(OUTPUTS)
    lineage = metadata["fdag/lineage"].value
    assert lineage["burst_ratio"] == dag.lineage("burst_ratio").to_dict()
    assert metadata["fdag/errors"].value == []
    columns = {c.name: c for c in metadata["dagster/column_schema"].value.columns}
    assert list(columns) == want.columns
    assert dag.version("burst_ratio") in (columns["burst_ratio"].description or "")
    assert metadata["fdag/parquet"].value == [str(file)]
    assert json.loads(pl.read_parquet_metadata(file)["fdag"])["versions"] == versions

    written_at = file.stat().st_mtime_ns
    again = dg.materialize([assets], partition_key="2024-03-04")  # resumable: the day is read back, not recomputed
    assert_frame_equal(again.output_for_node("fraud_features"), want)
    assert file.stat().st_mtime_ns == written_at


@needs_dagster
def test_unpartitioned_asset_scores_the_whole_spine(events: pl.DataFrame, spine: pl.DataFrame) -> None:
    import dagster as dg

    from fdag.integrations.dagster import feature_assets

    dag = fdag.Dag.from_modules(fraud)
    assets = feature_assets(dag, OUTPUTS, spine=spine, sources={"transactions": events}, key_prefix=["risk"])
    result = dg.materialize([assets])

    assert result.success
    assert assets.key == dg.AssetKey(["risk", "features"])
    want = fdag.FrameDriver(dag, OUTPUTS).run(spine, sources={"transactions": events})
    assert_frame_equal(result.output_for_node("risk__features"), want)


@needs_dagster
def test_a_day_without_requests_gives_an_empty_table(events: pl.DataFrame, spine: pl.DataFrame, tmp_path: Path) -> None:
    import dagster as dg

    from fdag.integrations.dagster import feature_assets

    assets = feature_assets(fdag.Dag.from_modules(fraud), OUTPUTS, spine=spine, sources={"transactions": events},
                            partitions_def=dg.DailyPartitionsDefinition(start_date="2024-03-01"), path=tmp_path)
    result = dg.materialize([assets], partition_key="2024-03-09")

    out = result.output_for_node("features")
    assert out.is_empty()
    assert out.columns == [*spine.columns, *OUTPUTS]
    assert result.asset_materializations_for_node("features")[0].metadata["fdag/parquet"].value == []


@needs_dagster
@pytest.mark.parametrize("written", [False, True], ids=["in-memory", "parquet"])
def test_each_partition_reports_its_own_errors(written: bool, tmp_path: Path) -> None:
    import dagster as dg

    from fdag.integrations.dagster import feature_assets

    frame, spine, sources = spend_call()
    assets = feature_assets(frame.dag, spine=spine, sources=sources, path=tmp_path if written else None,
                            partitions_def=dg.DailyPartitionsDefinition(start_date="2024-06-01", end_date="2024-06-04"))
    reported = []
    for day in ("2024-06-01", "2024-06-02", "2024-06-01"):  # one asset (one driver) for every run
        result = dg.materialize([assets], partition_key=day)
        reported.append(result.asset_materializations_for_node("features")[0].metadata["fdag/errors"].value)
    for day, errors in zip(("2024-06-01", "2024-06-02"), reported, strict=False):
        rows = spine.filter(pl.col("as_of").dt.date() == datetime.fromisoformat(day).date())
        assert errors == [dataclasses.asdict(e) for e in frame.evaluate(rows, sources=sources).errors] != []
    assert reported[0] != reported[1]
    # Read back instead of recomputed, a day computes nothing and so reports no error; in memory it recomputes.
    assert reported[2] == ([] if written else reported[0])


@needs_dagster
def test_hourly_partitions_cannot_be_written_as_days(spine: pl.DataFrame, tmp_path: Path) -> None:
    import dagster as dg

    from fdag.integrations.dagster import feature_assets

    hourly = dg.HourlyPartitionsDefinition(start_date="2024-03-01-00:00")
    assets = feature_assets(fdag.Dag.from_modules(fraud), ["hour_of_day"], spine=spine, partitions_def=hourly,
                            path=tmp_path)
    with pytest.raises(fdag.InputError, match="is not a UTC midnight"):
        dg.materialize([assets], partition_key="2024-03-02-05:00")


@needs_dagster
def test_code_version_follows_node_versions(make_module: Any) -> None:
    from fdag.integrations.dagster import feature_assets

    source = """
        def double(x: int) -> int:
            return x * {factor}

        def plus_one(double: int) -> int:
            return double + 1
    """
    spine = pl.DataFrame({"x": [1, 2]})
    first = feature_assets(fdag.Dag.from_modules(make_module("m_v1", source.format(factor=2))), spine=spine)
    same = feature_assets(fdag.Dag.from_modules(make_module("m_v2", source.format(factor=2))), spine=spine)
    changed = feature_assets(fdag.Dag.from_modules(make_module("m_v3", source.format(factor=3))), spine=spine)

    versions = [a.code_versions_by_key[a.key] for a in (first, same, changed)]
    assert versions[0] == versions[1] != versions[2]


@needs_dagster
def test_example_definitions_materialise_a_day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dagster as dg

    monkeypatch.setenv("FDAG_FEATURES_DIR", str(tmp_path))
    monkeypatch.delitem(sys.modules, "drivers.dagster_defs", raising=False)
    defs_module = importlib.import_module("drivers.dagster_defs")
    assert defs_module.defs.resolve_asset_graph().get_all_asset_keys() >= {dg.AssetKey("fraud_features")}

    result = dg.materialize([defs_module.fraud_features], partition_key="2024-03-05")

    assert result.success
    day = pl.read_parquet(tmp_path / "as_of_date=2024-03-05" / "part-0.parquet", hive_partitioning=False)
    events = defs_module.events()
    spine = defs_module.payments(None, None)
    rows = spine.filter(pl.col("as_of").dt.date() == datetime(2024, 3, 5).date())
    want = fdag.FrameDriver(fdag.Dag.from_modules(fraud), defs_module.OUTPUTS).run(rows, {"transactions": events})
    assert_frame_equal(day, want)


def test_missing_dagster_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "dagster", None)  # makes `import dagster` fail as if it were not installed
    monkeypatch.delitem(sys.modules, "fdag.integrations.dagster", raising=False)
    with pytest.raises(MissingDependencyError, match=r"Hint: pip install 'fdag\[dagster\]'") as caught:
        importlib.import_module("fdag.integrations.dagster")
    assert isinstance(caught.value, ImportError)
