"""Dagster assets from an fdag DAG: one asset, the feature table, materialised partition by partition.

Example::

    import dagster as dg
    from fdag.integrations.dagster import feature_assets

    features = feature_assets(
        fdag.Dag.from_modules(fraud), ["amount_vs_mean_10d", "burst_ratio"],
        spine="data/payments.parquet", sources={"transactions": "data/transactions.parquet"},
        partitions_def=dg.DailyPartitionsDefinition(start_date="2024-03-01"), name="fraud_features",
    )
    defs = dg.Definitions(assets=[features])

A partition's materialisation scores the spine rows whose ``as_of`` lies in the partition's time window and
returns them as a Polars frame (and, given ``path``, writes them with ``FrameDriver.backfill``). Node
versions, lineage, errors and the row count are attached as Dagster metadata; the asset's ``code_version`` is
a hash of the node versions, so Dagster marks the table stale exactly when a feature it depends on changes.
Each ``@fdag.check_output`` check of a computed feature is a Dagster asset check (``<feature>__<check>``, severity
WARN or ERROR by its importance) whose result carries the failed and total counts of the run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from fdag._dag.checks import CheckSpec, plan_checks
from fdag._dag.dag import Dag
from fdag._dag.node import AS_OF
from fdag._frame.driver import FrameDriver
from fdag.errors import MissingDependencyError
from fdag.integrations.partition import (
    Loader,
    backfill_partition,
    code_version,
    compute_partition,
    read_partitions,
)

if importlib.util.find_spec("dagster") is None:
    raise MissingDependencyError("dagster", "fdag.integrations.dagster", extra="dagster")
import dagster as dg

__all__ = ["feature_assets"]


def feature_assets(
    dag: Dag,
    outputs: Sequence[str] | None = None,
    *,
    spine: Loader,
    sources: Mapping[str, Loader] | None = None,
    partitions_def: dg.PartitionsDefinition | None = None,
    name: str = "features",
    as_of: str = AS_OF,
    path: str | Path | None = None,
    key_prefix: str | Sequence[str] | None = None,
    group_name: str | None = None,
    deps: Sequence[Any] | None = None,
    io_manager_key: str | None = None,
    overwrite: bool = False,
) -> dg.AssetsDefinition:
    """A Dagster asset named ``name`` whose value is the spine with one column per fdag output.

    ``spine`` and each of ``sources`` is a frame (Polars, pandas, Arrow), a Parquet path, or a callable
    ``load(start, end)`` given the partition's time window (``None, None`` when unpartitioned) — a loader must
    return events from before ``start`` too, as far back as the longest window reaches. With a time-window
    ``partitions_def`` (e.g. ``DailyPartitionsDefinition``) a run computes only the spine rows whose ``as_of`` is in
    the partition's window; without one, every row. ``deps`` names upstream assets (e.g. the raw events).

    With ``path``, the rows are written by ``FrameDriver.backfill`` to the dataset ``path/as_of_date=<day>/`` (the
    partitions must then be whole UTC days: daily, weekly or monthly in UTC); a day already written by the same code
    for the same rows is read back instead of recomputed, unless ``overwrite``.
    """
    frame = FrameDriver(dag, outputs)  # shared by every materialisation: each run's errors come with its result
    description = f"fdag features {', '.join(frame.outputs)}, point-in-time correct at each row's '{as_of}'."
    prefix = [key_prefix] if isinstance(key_prefix, str) else list(key_prefix or [])
    checks = plan_checks(frame.plan.nodes)
    check_specs = [dg.AssetCheckSpec(_check_name(spec), asset=dg.AssetKey([*prefix, name]),
                                     description=f"{spec.node}: {spec.describe()}") for spec in checks]

    @dg.asset(
        name=name,
        key_prefix=key_prefix,
        group_name=group_name,
        partitions_def=partitions_def,
        deps=deps,
        io_manager_key=io_manager_key,
        code_version=code_version(frame),
        description=description,
        kinds={"polars", "parquet"} if path is not None else {"polars"},
        metadata={"fdag/outputs": dg.MetadataValue.json(list(frame.outputs))},
        check_specs=check_specs,
    )
    # Unannotated: Dagster reads the string annotations of postponed evaluation (PEP 563) and rejects them.
    def _features(context):
        start, end = _time_window(context)
        metadata: dict[str, Any] = {}
        if path is None:
            table, info = compute_partition(frame, spine, sources or {}, start, end, as_of)
        else:
            files, info = backfill_partition(frame, spine, sources or {}, start, end, path, as_of, overwrite)
            metadata["fdag/parquet"] = dg.MetadataValue.json([str(file) for file in files])
            if files:
                table = read_partitions(files)
            else:  # no spine rows in the window: compute the empty table, which has the right columns
                table, _ = compute_partition(frame, spine, sources or {}, start, end, as_of)
        metadata.update({
            "dagster/row_count": table.height,
            "dagster/column_schema": _table_schema(dag, table, frame.outputs),
            "fdag/versions": dg.MetadataValue.json(info["versions"]),
            "fdag/lineage": dg.MetadataValue.json(info["lineage"]),
            "fdag/errors": dg.MetadataValue.json(info["errors"]),
            "fdag/checks": dg.MetadataValue.json(info["checks"]),
        })
        for error in info["errors"]:
            context.log.warning(f"fdag feature error (value set to null): {error}")
        yield dg.Output(table, metadata=metadata)
        for spec, result in zip(checks, info["checks"], strict=True):
            yield _check_result(spec, result)

    return _features


def _check_name(spec: CheckSpec) -> str:
    """The Dagster asset check of one fdag check: ``<feature>__<check>`` (both are Python identifiers)."""
    return f"{spec.node}__{spec.check}"


def _check_result(spec: CheckSpec, result: Mapping[str, Any]) -> Any:
    """One check's outcome in this materialisation (a ``CheckResult`` as JSON) as Dagster's ``AssetCheckResult``."""
    severity = dg.AssetCheckSeverity.ERROR if spec.importance == "fail" else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(check_name=_check_name(spec), passed=bool(result["passed"]), severity=severity,
                               metadata={"failed": result["failed"], "total": result["total"], "rule": spec.rule})


def _time_window(context: dg.AssetExecutionContext) -> tuple[datetime | None, datetime | None]:
    """The partition's ``[start, end)``; ``None, None`` for an unpartitioned asset."""
    if not (context.has_partition_key or context.has_partition_key_range):
        return None, None
    window = context.partition_time_window  # raises for partitions that are not time windows, with Dagster's hint
    return window.start, window.end


def _table_schema(dag: Dag, table: pl.DataFrame, outputs: Sequence[str]) -> dg.TableSchema:
    """Dagster's column schema of ``table``; each output column carries its docstring and version."""
    columns = []
    for column, dtype in table.schema.items():
        description = None
        if column in outputs:
            node = dag.nodes[column]
            description = f"{node.doc} (fdag version {dag.version(column)})".lstrip()
        columns.append(dg.TableColumn(column, str(dtype), description=description))
    return dg.TableSchema(columns=columns)
