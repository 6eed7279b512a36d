"""FrameDriver.backfill: the dataset equals FrameDriver.run, resumes, writes atomically, records metadata."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import fdag
from fdag.demo import fraud
from fdag.demo.samples import transactions
from fdag.errors import MissingInputError
from tests.resources import spend

DAG = fdag.Dag.from_modules(fraud)
# Whole amounts: every window sum is exact in binary floating point, whatever other events share the prefix
# sums, so the dataset can be compared bit for bit (see test_float_sums_agree_to_the_last_bits for the rest).
RAW_EVENTS = transactions(users=120, count=4000, days=8)
EVENTS = RAW_EVENTS.with_columns(pl.col("amount").round(0))


def spine_of(events: pl.DataFrame, rows: int = 600) -> pl.DataFrame:
    """Payments to score, each at its own instant, in no particular order."""
    return (events.unique("txn_id", maintain_order=True).sample(rows, seed=3)
            .select("user_id", "amount", "merchant", pl.col("ts").alias("as_of")))


SPINE = spine_of(EVENTS)


def expected(frame: fdag.FrameDriver, spine: pl.DataFrame, events: pl.DataFrame) -> pl.DataFrame:
    """FrameDriver.run on the whole spine, in dataset order: by day, then by spine row."""
    out = frame.run(spine, sources={"transactions": events})
    day = pl.col("as_of").dt.convert_time_zone("UTC").dt.date().alias("as_of_date")
    return out.with_columns(day).with_row_index("position").sort("as_of_date", "position").drop("position")


def files(path: Path) -> list[str]:
    """Every file under ``path``, relative, sorted."""
    return sorted(str(p.relative_to(path)) for p in path.rglob("*") if p.is_file())


def fdag_metadata(file: Path) -> dict:
    return json.loads(pl.read_parquet_metadata(file)["fdag"])


def test_dataset_equals_run_on_the_whole_spine(tmp_path: Path) -> None:
    frame = fdag.FrameDriver(DAG)
    report = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path / "features", progress=False)
    days = sorted(SPINE["as_of"].dt.date().unique())
    assert report.written == tuple(f"as_of_date={day.isoformat()}" for day in days)
    assert (report.partitions_written, report.partitions_skipped, report.rows) == (len(days), 0, SPINE.height)
    assert files(tmp_path / "features") == [f"as_of_date={day.isoformat()}/part-0.parquet" for day in days]
    assert_frame_equal(pl.read_parquet(tmp_path / "features"), expected(frame, SPINE, EVENTS), check_exact=True)


def test_float_sums_are_bit_identical_to_a_whole_run(tmp_path: Path) -> None:
    """With arbitrary amounts a partition sees fewer events than the whole run; the window sums must not care."""
    frame, spine = fdag.FrameDriver(DAG), spine_of(RAW_EVENTS)
    frame.backfill(spine, {"transactions": RAW_EVENTS}, tmp_path, progress=False)
    assert_frame_equal(pl.read_parquet(tmp_path), expected(frame, spine, RAW_EVENTS), check_exact=True)


def test_second_run_skips_every_partition(tmp_path: Path) -> None:
    frame = fdag.FrameDriver(DAG, ["spend_sum_1h", "burst_ratio"])
    first = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, progress=False)
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")}
    again = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, progress=False)
    assert (again.written, again.skipped, again.rows) == ((), first.written, 0)
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*.parquet")} == stamps
    forced = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, progress=False, overwrite=True)
    assert forced.written == first.written


SCORING = '''
from datetime import datetime
import fdag

transactions = fdag.Source("transactions", key="user_id", timestamp="ts", id="txn_id",
                           schema={{"txn_id": str, "user_id": str, "ts": datetime, "amount": float, "merchant": str}})

@fdag.window(transactions, agg="sum", over="1h")
def spend_1h(amount: float) -> float:
    return amount

def score(amount: float, spend_1h: float) -> float:
    return amount + {weight} * spend_1h

def unused(amount: float) -> float:
    return amount * {other}
'''


def test_changed_code_recomputes_the_partitions_it_changes(
        tmp_path: Path, make_module: Callable[[str, str], ModuleType]) -> None:
    out = tmp_path / "features"  # tmp_path also holds the modules' source files

    def frame(weight: int, other: int) -> fdag.FrameDriver:
        module = make_module(f"scoring_{weight}_{other}", SCORING.format(weight=weight, other=other))
        return fdag.FrameDriver(fdag.Dag.from_modules(module), ["score"])

    first = frame(weight=2, other=1).backfill(SPINE, {"transactions": EVENTS}, out, progress=False)
    # 'unused' is not upstream of 'score': same versions, nothing to do.
    unrelated = frame(weight=2, other=5).backfill(SPINE, {"transactions": EVENTS}, out, progress=False)
    assert (unrelated.written, unrelated.skipped) == ((), first.written)
    new = frame(weight=3, other=5)
    changed = new.backfill(SPINE, {"transactions": EVENTS}, out, progress=False)
    assert changed.written == first.written
    assert_frame_equal(pl.read_parquet(out), expected(new, SPINE, EVENTS), check_exact=True)
    assert {fdag_metadata(f)["versions"]["score"] for f in out.rglob("*.parquet")} == {
        new.dag.version("score")}


def test_a_deleted_partition_is_recomputed_alone(tmp_path: Path) -> None:
    frame = fdag.FrameDriver(DAG)
    first = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, progress=False)
    (tmp_path / first.written[3] / "part-0.parquet").unlink()
    again = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, progress=False)
    assert again.written == (first.written[3],)
    assert_frame_equal(pl.read_parquet(tmp_path), expected(frame, SPINE, EVENTS), check_exact=True)


def test_a_crash_leaves_whole_files_only_and_the_next_run_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    frame, original, calls = fdag.FrameDriver(DAG), pl.DataFrame.write_parquet, []

    def crash_on_fourth(self: pl.DataFrame, file, **kwargs) -> None:  # type: ignore[no-untyped-def]
        calls.append(file)
        if len(calls) == 4:
            file.write(b"PAR1 half a file")
            raise OSError("disk full")
        original(self, file, **kwargs)

    monkeypatch.setattr(pl.DataFrame, "write_parquet", crash_on_fourth)
    with pytest.raises(OSError, match="disk full"):
        frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, progress=False)
    monkeypatch.undo()
    first_days = sorted(SPINE["as_of"].dt.date().unique())[:3]
    assert files(tmp_path) == [f"as_of_date={day.isoformat()}/part-0.parquet" for day in first_days]
    (tmp_path / "as_of_date=2024-03-08").mkdir(exist_ok=True)
    (tmp_path / "as_of_date=2024-03-08" / ".part-0.parquet.4242.tmp").write_bytes(b"left by a killed run")
    resumed = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, progress=False)
    days = SPINE["as_of"].dt.date().n_unique()
    assert (resumed.partitions_skipped, resumed.partitions_written) == (3, days - 3)
    assert not list(tmp_path.rglob("*.tmp"))
    assert_frame_equal(pl.read_parquet(tmp_path), expected(frame, SPINE, EVENTS), check_exact=True)


def test_metadata_records_versions_lineage_and_as_of_range(tmp_path: Path) -> None:
    frame = fdag.FrameDriver(DAG, ["amount_vs_mean_10d", "hour_of_day"])
    report = frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, progress=False)
    file = tmp_path / report.written[2] / "part-0.parquet"
    meta, rows = fdag_metadata(file), pl.read_parquet(file)
    assert meta["versions"] == dict(frame.plan.versions) and meta["outputs"] == list(frame.outputs)
    assert meta["lineage"] == {name: DAG.lineage(name).to_dict() for name in frame.outputs}
    assert meta["versions"]["amount_vs_mean_10d"] == DAG.version("amount_vs_mean_10d")
    assert meta["rows"] == rows.height
    assert (meta["as_of_min"], meta["as_of_max"]) == (rows["as_of"].min().isoformat(), rows["as_of"].max().isoformat())
    assert meta["partition"] == {"column": "as_of_date", "value": report.written[2].split("=")[1]}
    assert meta["fdag_version"] == fdag.__version__


def test_spine_and_events_as_parquet_paths(tmp_path: Path) -> None:
    SPINE.write_parquet(tmp_path / "spine.parquet")
    (tmp_path / "events").mkdir()
    for number, chunk in enumerate(EVENTS.iter_slices(1500)):
        chunk.write_parquet(tmp_path / "events" / f"{number}.parquet")
    frame = fdag.FrameDriver(DAG)
    report = frame.backfill(tmp_path / "spine.parquet", {"transactions": str(tmp_path / "events" / "*.parquet")},
                            tmp_path / "out", progress=False, batch_rows=100)  # several days a batch
    assert report.rows == SPINE.height
    assert_frame_equal(pl.read_parquet(tmp_path / "out"), expected(frame, SPINE, EVENTS), check_exact=True)
    lazy = frame.backfill(SPINE.lazy(), {"transactions": EVENTS.lazy()}, tmp_path / "lazy", progress=False)
    assert lazy.written == report.written


def test_partition_by_a_spine_column_and_null_as_of(tmp_path: Path) -> None:
    spine = SPINE.head(200).with_columns(pl.when(pl.int_range(pl.len()) % 50 == 0).then(None)
                                         .otherwise(pl.col("as_of")).alias("as_of"))
    frame = fdag.FrameDriver(DAG, ["spend_count_1h"])
    by_merchant = frame.backfill(spine, {"transactions": EVENTS}, tmp_path / "m", partition_by="merchant",
                                 progress=False)
    assert set(by_merchant.written) == {f"merchant={m}" for m in spine["merchant"].unique()}
    want = frame.run(spine, sources={"transactions": EVENTS})
    got = pl.read_parquet(tmp_path / "m")
    assert_frame_equal(got.sort("merchant", maintain_order=True),
                       want.with_row_index("i").sort("merchant", "i").drop("i"), check_exact=True)
    by_day = frame.backfill(spine, {"transactions": EVENTS}, tmp_path / "d", progress=False)
    assert by_day.written[-1] == "as_of_date=__HIVE_DEFAULT_PARTITION__"
    nulls = pl.read_parquet(tmp_path / "d").filter(pl.col("as_of_date").is_null())
    assert nulls.height == 4 and nulls["spend_count_1h"].null_count() == 4


def test_progress_bar_on_and_off(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = fdag.FrameDriver(DAG, ["hour_of_day", "spend_sum_5m"])
    frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path / "on")
    shown = capsys.readouterr().err
    assert "backfill on" in shown and "100%" in shown and "partition" in shown
    frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path / "off", progress=False)
    assert capsys.readouterr().err == ""


def test_bad_arguments_name_the_fix(tmp_path: Path) -> None:
    frame = fdag.FrameDriver(DAG)
    with pytest.raises(MissingInputError, match=r"input 'country' is not a spine column.*Hint: pass partition_by"):
        frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, partition_by="country")
    with pytest.raises(MissingInputError, match="input 'as_of' is missing from the spine"):
        frame.backfill(SPINE.drop("as_of"), {"transactions": EVENTS}, tmp_path)
    with pytest.raises(ValueError, match="engine='spark' is not 'local' or 'ray'"):
        frame.backfill(SPINE, {"transactions": EVENTS}, tmp_path, engine="spark")  # type: ignore[arg-type]


def spend_call() -> tuple[fdag.FrameDriver, pl.DataFrame, dict[str, pl.DataFrame]]:
    """A DAG whose features fail on some rows (zero division, negative amounts), a 3-day spine and its events."""
    start = datetime(2024, 6, 1, tzinfo=UTC)
    instants = [start + timedelta(hours=5 * i) for i in range(15)]
    events = pl.DataFrame({"user_id": ["a"] * 15, "ts": instants, "amount": [float(i + 1) for i in range(15)]})
    spine = pl.DataFrame({"user_id": ["a", "b"] * 15, "amount": [-1.0, 2.0, -3.0] * 10,
                          "as_of": [t + timedelta(minutes=m) for t in instants for m in (10, 20)]})
    return fdag.FrameDriver(fdag.Dag.from_modules(spend)), spine, {"payments": events}


def test_the_report_sums_the_errors_of_every_batch(tmp_path: Path) -> None:
    frame, spine, sources = spend_call()
    whole = frame.evaluate(spine, sources=sources).errors
    counts: Counter[tuple[str, str, str]] = Counter()
    for e in whole:
        counts[e.node, e.type, e.message] += e.count
    assert counts[("share_of_hour", "ZeroDivisionError", "float division by zero")] == 15  # user b never pays
    assert counts[("checked_amount", "ValueError", "negative amount -1.0")] == 10
    for batch_rows in (1, 1_000_000):  # one day per batch, then every day in one
        report = frame.backfill(spine, sources, tmp_path / str(batch_rows), progress=False, batch_rows=batch_rows)
        assert report.partitions_written == 3
        assert {(e.node, e.type, e.message): e.count for e in report.errors} == counts
    assert frame.backfill(spine, sources, tmp_path / "1", progress=False).errors == ()  # nothing recomputed
    assert not hasattr(frame, "errors")
