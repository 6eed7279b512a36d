"""``fdag demo``: the card-payment features computed both ways on a generated sample.

It builds the DAG, draws it (DOT and SVG), scores a sample of payments vectorized over Polars and one at a
time as a model service would, shows that both engines agree value for value, and prints feature vectors
with their as-of and lineage.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

import fdag
from fdag._check.check import compare
from fdag.demo import fraud, payment
from fdag.demo.samples import payments, transactions
from fdag.errors import ConsistencyError


def windows_demo(out: Path) -> None:
    """Train offline, serve online from the same history, and show that the features agree."""
    dag = fdag.Dag.from_modules(fraud)
    events = transactions(users=300, count=20_000, days=20)
    cutoff = datetime(2024, 3, 16, tzinfo=UTC)
    # The spine: payments to score, each at its own instant; the window [t - w, t) excludes the payment itself.
    spine = (events.unique("txn_id").sample(3000, seed=3)
             .select("user_id", "amount", "merchant", pl.col("ts").alias("as_of")))
    frame = fdag.FrameDriver(dag)
    started = time.perf_counter()
    training = frame.run(spine, sources={"transactions": events})
    elapsed = (time.perf_counter() - started) * 1000
    training.write_parquet(out / "fraud_training.parquet")
    print(f"\n== point-in-time training set: {training.height} rows x {len(frame.outputs)} features from "
          f"{events.height} events in {elapsed:.0f} ms -> {out / 'fraud_training.parquet'} ==")
    print(training.select("user_id", "as_of", "spend_count_5m", "spend_sum_1h", "spend_mean_10d",
                          "merchants_1h", "amount_vs_mean_10d").sort("spend_count_5m", descending=True).head(5))

    history_path = out / "transactions_history.parquet"
    events.filter(pl.col("ts") < cutoff).write_parquet(history_path)
    row = fdag.RowDriver(dag)
    row.bootstrap("transactions", history_path)
    stream = events.filter(pl.col("ts") >= cutoff).sort("ts").to_dicts()
    served = training.with_row_index("position").filter(pl.col("as_of") >= cutoff).sort("as_of")
    mismatches, position, first = 0, 0, None
    for request in served.iter_rows(named=True):
        due = position
        while due < len(stream) and stream[due]["ts"] <= request["as_of"]:
            due += 1
        if due > position:
            row.ingest("transactions", stream[position:due])
            position = due
        vector = row.get({name: request[name] for name in dag.inputs}, as_of=request["as_of"])
        differ = [name for name in frame.outputs if not _close(vector[name], request[name])]
        if differ and first is None:
            first = ConsistencyError(differ[0], request, vector[differ[0]], request[differ[0]])
        mismatches += len(differ)
    print(f"== served online after bootstrapping {history_path.name} and streaming {position} events: "
          f"{served.height} requests, {mismatches} values differ from the training set ==")
    if first is not None:
        raise first


def _close(online: Any, offline: Any) -> bool:
    if isinstance(online, float) and isinstance(offline, float):
        return abs(online - offline) <= 1e-6 * max(1.0, abs(offline))
    return online == offline


def main(out: Path) -> None:
    """Run the demo, writing the DAG drawing, the training set and the history into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    dag = fdag.Dag.from_modules(payment)
    print(f"== DAG: {len(dag.nodes)} features from {len(dag.inputs)} request inputs ==")
    (out / "payment.dot").write_text(dag.to_dot())
    if shutil.which("dot"):
        print(f"drawn: {dag.render(out / 'payment.svg')} and {out / 'payment.dot'}")

    rows = payments(2000)
    frame = fdag.FrameDriver(dag)
    started = time.perf_counter()
    result = frame.evaluate(pl.DataFrame(rows))
    table = result.table
    print(f"\n== FrameDriver: {table.height} payments x {len(frame.outputs)} features in "
          f"{(time.perf_counter() - started) * 1000:.1f} ms ==")
    print(table.select("amount", "merchant_category", "as_of", "amount_bucket", "is_high_risk_category",
                       "limit_utilisation", "risk_score").head(5))
    print("errors recorded (each made its value null):", *[f"  {e}" for e in result.errors], sep="\n")
    print("\nhow each feature runs vectorized:", *[f"  {e}" for e in frame.explanations() if e.how != "input"],
          sep="\n")

    row = fdag.RowDriver(dag)
    request = {k: v for k, v in rows[0].items() if k != "as_of"}
    vector = row.get(request, as_of=rows[0]["as_of"])
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(2000):
            row.get(request, as_of=rows[0]["as_of"])
        timings.append((time.perf_counter() - started) / 2000 * 1e6)
    print(f"\n== RowDriver: one request, {len(vector)} features, {sorted(timings)[2]:.1f} µs per get (median) ==")
    for name in ("risk_score", "limit_utilisation", "hour_of_day"):
        at = vector.as_of[name]
        print(f"  {name} = {vector[name]!r}  as-of {at.isoformat() if at else None}")
    print("lineage of risk_score:", json.dumps(vector.lineage["risk_score"].to_dict(), indent=2))

    compare(row, frame, rows)
    print(f"\n== consistency: RowDriver and FrameDriver agree on all {len(rows)} payments, "
          f"every feature and every error ==")
    windows_demo(out)
