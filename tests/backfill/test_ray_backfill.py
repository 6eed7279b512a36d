"""engine="ray" on a real local Ray cluster: the same files, rows, values and metadata as the local engine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import fdag
from tests.backfill.test_backfill import DAG, EVENTS, SPINE, files, spend_call
from tests.resources import fallback

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'fdag[ray]')")


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """One local Ray with 2 CPUs for the whole module: starting Ray takes seconds."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def assert_same_dataset(got: Path, want: Path) -> None:
    """Same files, and in each the same rows in the same order, the same values and the same fdag metadata."""
    assert files(got) == files(want)
    for name in files(want):
        assert_frame_equal(pl.read_parquet(got / name), pl.read_parquet(want / name), check_exact=True)
        assert pl.read_parquet_metadata(got / name)["fdag"] == pl.read_parquet_metadata(want / name)["fdag"]


def test_ray_writes_the_local_dataset(cluster: Any, tmp_path: Path) -> None:
    frame = fdag.FrameDriver(DAG)
    local = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path / "local", progress=False)
    distributed = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path / "ray", engine="ray", workers=2,
                                 progress=False)
    assert (distributed.written, distributed.rows) == (local.written, local.rows)
    assert_same_dataset(tmp_path / "ray", tmp_path / "local")
    again = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path / "ray", engine="ray", progress=False)
    assert (again.written, again.skipped) == ((), local.written)


def test_ray_tasks_scan_parquet_events_themselves(cluster: Any, tmp_path: Path) -> None:
    EVENTS.write_parquet(tmp_path / "events.parquet")
    SPINE.write_parquet(tmp_path / "spine.parquet")
    frame = fdag.FrameDriver(DAG, ["spend_mean_10d", "merchants_1h", "last_merchant_10d", "burst_ratio"])
    frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path / "local", progress=False)
    frame.backfill(tmp_path / "spine.parquet", {"transactions": tmp_path / "events.parquet"}, tmp_path / "ray",
                   engine="ray", workers=2, progress=False, batch_rows=150)
    assert_same_dataset(tmp_path / "ray", tmp_path / "local")


def test_ray_reports_the_errors_of_its_tasks(cluster: Any, tmp_path: Path) -> None:
    frame, spine, sources = spend_call()
    local = frame.backfill(spine, sources, tmp_path / "local", progress=False)
    distributed = frame.backfill(spine, sources, tmp_path / "ray", engine="ray", workers=2, progress=False,
                                 batch_rows=1)
    assert local.errors  # the DAG fails on some rows: the comparison below is not of two empty reports
    assert sorted(distributed.errors, key=str) == sorted(local.errors, key=str)
    assert_same_dataset(tmp_path / "ray", tmp_path / "local")


def test_ray_evaluates_features_that_fall_back_to_rows(cluster: Any, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Features the translator refuses run as Python functions inside the Polars query of each Ray task.

    Polars serializes such a query only with the ``cloudpickle`` package, which Ray does not install (it vendors
    its own): the driver must reach the tasks without it.
    """
    monkeypatch.setitem(sys.modules, "cloudpickle", None)  # as where it is not installed
    frame = fdag.FrameDriver(fdag.Dag.from_modules(fallback))
    assert {e.node: e.how for e in frame.explanations()} == {
        "user_id": "input", "amount": "input", "spent_1h": "window", "doubled": "translated",
        "share_of_hour": "fallback", "label": "fallback"}
    _, spine, sources = spend_call()
    local = frame.backfill(spine, sources, tmp_path / "local", progress=False)
    distributed = frame.backfill(spine, sources, tmp_path / "ray", engine="ray", workers=2, progress=False)
    assert (distributed.written, distributed.rows) == (local.written, local.rows)
    assert_same_dataset(tmp_path / "ray", tmp_path / "local")
    assert pl.read_parquet(tmp_path / "ray")["share_of_hour"].to_list().count(-1.0) == 16  # b never pays; a's -1/1
