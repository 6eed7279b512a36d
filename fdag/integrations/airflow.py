"""Airflow tasks that compute fdag features for one day: a TaskFlow-ready callable and an operator.

Example (TaskFlow)::

    from airflow.sdk import task
    from fdag.integrations.airflow import compute_features

    @task
    def features(ds: str | None = None) -> dict:
        return compute_features(["fdag.demo.fraud"], ["amount_vs_mean_10d"], "data/payments.parquet",
                                {"transactions": "data/transactions.parquet"}, "data/features", ds=ds)

Example (operator; every path and ``ds`` are Jinja-templated)::

    FdagBackfillOperator(task_id="features", module_names=["fdag.demo.fraud"],
                         spine_path="data/payments/{{ ds }}.parquet",
                         sources_paths={"transactions": "data/transactions.parquet"}, out_path="data/features")

Both score the spine rows whose ``as_of`` falls on day ``ds`` (UTC) and write them with ``FrameDriver.backfill``,
with the fdag metadata (node versions, lineage, errors), to ``out_path/as_of_date=<ds>/part-0.parquet``: atomic,
and skipped when the same code already wrote the same rows. They return a small JSON summary (the task's XCom).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import Any

from fdag._dag.node import AS_OF
from fdag._frame.driver import FrameDriver
from fdag.errors import MissingDependencyError
from fdag.integrations.partition import backfill_partition, dag_from_module_names, day_window

if importlib.util.find_spec("airflow") is None:
    raise MissingDependencyError("apache-airflow", "fdag.integrations.airflow", extra="airflow")
try:
    from airflow.sdk import BaseOperator
except ModuleNotFoundError as missing:  # pragma: no cover - Airflow 2 has no task SDK
    if missing.name != "airflow.sdk":
        raise
    from airflow.models.baseoperator import BaseOperator

__all__ = ["FdagBackfillOperator", "compute_features"]


def compute_features(
    module_names: Sequence[str] | str,
    outputs: Sequence[str] | None,
    spine_path: str,
    sources_paths: Mapping[str, str],
    out_path: str,
    ds: str | None = None,
    as_of: str = AS_OF,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Compute ``outputs`` of the modules' DAG for the spine rows of day ``ds`` into the dataset at ``out_path``.

    ``module_names`` are dotted module names (``"fdag.demo.fraud"``); ``spine_path`` and ``sources_paths``
    are Parquet files, scanned lazily (the sources must reach back before ``ds`` as far as the longest window).
    The day is written by ``FrameDriver.backfill`` to ``out_path/as_of_date=<ds>/part-0.parquet`` and skipped if
    the same code already wrote it for the same rows (unless ``overwrite``); ``ds=None`` backfills every day of
    the spine. Returns the files, the row count, the node versions and the errors recorded (null values).
    """
    frame = FrameDriver(dag_from_module_names(module_names), outputs)
    start, end = day_window(ds) if ds is not None else (None, None)
    files, metadata = backfill_partition(frame, spine_path, sources_paths, start, end, out_path, as_of, overwrite)
    return {"files": [str(file) for file in files], "row_count": metadata["row_count"], "outputs": metadata["outputs"],
            "versions": metadata["versions"], "errors": metadata["errors"]}


class FdagBackfillOperator(BaseOperator):
    """Computes one day's partition of a feature table (``ds``, by default the run's ``{{ ds }}``).

    Arguments are those of ``compute_features``; ``spine_path``, ``sources_paths``, ``out_path`` and ``ds`` are
    templated, so a daily DAG can read ``data/payments/{{ ds }}.parquet``. Backfilling a date range is Airflow's
    own ``airflow dags backfill``: each day's task rewrites only its own partition.
    """

    template_fields: Sequence[str] = ("spine_path", "sources_paths", "out_path", "ds")

    def __init__(
        self,
        *,
        module_names: Sequence[str] | str,
        spine_path: str,
        sources_paths: Mapping[str, str],
        out_path: str,
        outputs: Sequence[str] | None = None,
        ds: str = "{{ ds }}",
        as_of: str = AS_OF,
        overwrite: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.module_names = module_names
        self.feature_outputs = outputs
        self.spine_path = spine_path
        self.sources_paths = dict(sources_paths)
        self.out_path = out_path
        self.ds = ds
        self.as_of = as_of
        self.overwrite = overwrite

    def execute(self, context: Any) -> dict[str, Any]:
        """Run ``compute_features`` for the rendered ``ds``; the summary becomes the task's XCom."""
        summary = compute_features(self.module_names, self.feature_outputs, self.spine_path, self.sources_paths,
                                   self.out_path, ds=self.ds, as_of=self.as_of, overwrite=self.overwrite)
        for error in summary["errors"]:
            self.log.warning("fdag feature error (value set to null): %s", error)
        self.log.info("%s rows in %s", summary["row_count"], ", ".join(summary["files"]) or "no partition")
        return summary
