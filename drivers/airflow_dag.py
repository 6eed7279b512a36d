"""A ready Airflow DAG: each day, generate that day's card payments, then compute their fraud features.

Put this file (or one importing ``fraud_features_dag``) in Airflow's dags folder, with fdag installed:

    pip install 'fdag[airflow]'
    airflow dags test fdag_fraud_features 2024-03-05

Task ``generate_events`` writes ``$FDAG_AIRFLOW_DATA/transactions/<ds>.parquet`` (the history up to the end of the
day, from ``fdag.demo.samples.transactions``) and ``payments/<ds>.parquet`` (the day's payments, each scored at its own
instant); ``compute_features`` (an ``FdagBackfillOperator``) writes
``features/as_of_date=<ds>/part-0.parquet``.
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from airflow.sdk import dag, task

from fdag.demo.samples import transactions
from fdag.integrations.airflow import FdagBackfillOperator
from fdag.integrations.partition import day_window, in_window

DATA = Path(os.environ.get("FDAG_AIRFLOW_DATA", Path(tempfile.gettempdir()) / "fdag-airflow"))
OUTPUTS = ["spend_count_5m", "spend_sum_1h", "spend_mean_10d", "merchants_1h", "amount_vs_mean_10d", "burst_ratio",
           "exceeds_largest_10d", "same_merchant_as_last", "hour_of_day"]


@task
def generate_events(ds: str | None = None) -> dict[str, str]:
    """Write the history up to the end of day ``ds`` and the day's payments (the spine) as Parquet."""
    if ds is None:
        raise ValueError("generate_events needs the run's ds. Hint: run it inside a DAG run.")
    start, end = day_window(ds)
    events = transactions(users=200, count=10_000, days=20)
    history = in_window(events, "ts", None, end).collect()
    spine = (in_window(events, "ts", start, end).unique("txn_id", keep="first").sort("ts", "txn_id")
             .select("txn_id", "user_id", "amount", "merchant", pl.col("ts").alias("as_of")).collect())
    paths = {"transactions": DATA / "transactions" / f"{ds}.parquet", "spine": DATA / "payments" / f"{ds}.parquet"}
    for path, table in zip(paths.values(), (history, spine), strict=True):
        path.parent.mkdir(parents=True, exist_ok=True)
        table.write_parquet(path)
    return {name: str(path) for name, path in paths.items()}


@dag(dag_id="fdag_fraud_features", schedule="@daily", start_date=datetime(2024, 3, 2, tzinfo=UTC),
     end_date=datetime(2024, 3, 20, tzinfo=UTC), catchup=False, tags=["fdag"])
def fraud_features() -> None:
    """Card-payment fraud features, one daily partition per run."""
    features = FdagBackfillOperator(
        task_id="compute_features",
        module_names=["fdag.demo.fraud"],
        outputs=OUTPUTS,
        spine_path=str(DATA / "payments" / "{{ ds }}.parquet"),
        sources_paths={"transactions": str(DATA / "transactions" / "{{ ds }}.parquet")},
        out_path=str(DATA / "features"),
    )
    generate_events() >> features


fraud_features_dag = fraud_features()
