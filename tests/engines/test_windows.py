"""Window features end to end, on both engines: the documented worked example, edges, nulls, leakage."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

import fdag
from fdag.demo import fraud
from feature_modules import reading

UTC = UTC
T = datetime(2024, 1, 1, 10, tzinfo=UTC)
EVENTS = [
    {"txn_id": "t1", "user_id": "u1", "ts": T, "amount": 20.0, "merchant": "a"},
    {"txn_id": "t2", "user_id": "u1", "ts": T + timedelta(minutes=30), "amount": 5.0, "merchant": "b"},
    {"txn_id": "t3", "user_id": "u1", "ts": T + timedelta(hours=1), "amount": 7.0, "merchant": "b"},
    {"txn_id": "t2", "user_id": "u1", "ts": T + timedelta(minutes=30), "amount": 5.0, "merchant": "b"},  # re-sent
    {"txn_id": "t4", "user_id": "u2", "ts": T - timedelta(days=11), "amount": 100.0, "merchant": "c"},
]
DAG = fdag.Dag.from_modules(fraud)
OUTPUTS = ["spend_sum_1h", "spend_count_5m", "spend_mean_5m", "spend_count_10d", "merchants_1h",
           "last_merchant_10d", "amount_vs_mean_10d", "burst_ratio", "largest_payment_10d"]


def row_engine(requests: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    row = fdag.RowDriver(DAG, OUTPUTS)
    row.ingest("transactions", events)
    return [dict(row.get({k: v for k, v in r.items() if k != "as_of"}, r["as_of"]).values) for r in requests]


def frame_engine(requests: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    frame = fdag.FrameDriver(DAG, OUTPUTS)
    out = frame.run(pl.DataFrame(requests), sources={"transactions": pl.DataFrame(events)})
    return out.select(OUTPUTS).to_dicts()


@pytest.fixture(params=["row", "frame"])
def run(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return {"row": row_engine, "frame": frame_engine}[request.param]


def test_the_documented_worked_example(run) -> None:  # type: ignore[no-untyped-def]
    (out,) = run([{"user_id": "u1", "amount": 50.0, "merchant": "b", "as_of": T + timedelta(hours=1)}], EVENTS)
    assert out == {
        "spend_sum_1h": 25.0,  # 10:00 on the lower bound is in; 11:00 == as_of is out; t2 counted once
        "spend_count_5m": 0, "spend_mean_5m": None, "spend_count_10d": 2, "merchants_1h": 2,
        "last_merchant_10d": "b", "amount_vs_mean_10d": 4.0, "burst_ratio": 0.0, "largest_payment_10d": 20.0,
    }


def test_an_event_at_as_of_is_excluded_and_one_microsecond_later_it_counts(run) -> None:  # type: ignore[no-untyped-def]
    at = T + timedelta(hours=1)
    outs = run([{"user_id": "u1", "amount": 1.0, "merchant": "x", "as_of": at},
                {"user_id": "u1", "amount": 1.0, "merchant": "x", "as_of": at + timedelta(microseconds=1)}], EVENTS)
    assert [o["spend_count_5m"] for o in outs] == [0, 1]
    assert [o["spend_sum_1h"] for o in outs] == [25.0, 12.0]  # 10:00 drops out exactly when 11:00 comes in


def test_keys_without_events_and_old_events(run) -> None:  # type: ignore[no-untyped-def]
    outs = run([{"user_id": "u2", "amount": 5.0, "merchant": "c", "as_of": T},
                {"user_id": "nobody", "amount": 5.0, "merchant": "c", "as_of": T}], EVENTS)
    for out in outs:
        assert out["spend_count_10d"] == 0 and out["spend_sum_1h"] == 0.0 and out["largest_payment_10d"] is None
        assert out["amount_vs_mean_10d"] is None and out["last_merchant_10d"] is None


def test_a_null_key_makes_window_features_null(run) -> None:  # type: ignore[no-untyped-def]
    (out,) = run([{"user_id": None, "amount": 5.0, "merchant": "c", "as_of": T}], EVENTS)
    assert out["spend_count_10d"] is None and out["spend_sum_1h"] is None


def test_as_of_of_a_window_is_capped_by_the_watermark() -> None:
    row = fdag.RowDriver(DAG, ["spend_sum_1h", "hour_of_day"])
    row.ingest("transactions", EVENTS)
    late = T + timedelta(days=1)
    vec = row.get({"user_id": "u1"}, late)
    assert vec.as_of == {"spend_sum_1h": T + timedelta(hours=1), "hour_of_day": late}
    empty = fdag.RowDriver(DAG, ["spend_sum_1h"]).get({"user_id": "u1"}, late)
    assert empty.as_of == {"spend_sum_1h": None}


def test_lineage_and_dot_name_the_source() -> None:
    lineage = DAG.lineage("amount_vs_mean_10d")
    assert lineage.sources == {"transactions": "user_id"}
    assert set(lineage.upstream) == {"spend_mean_10d"}
    dot = DAG.to_dot(["spend_sum_1h"])
    assert '"source:transactions" -> "spend_sum_1h"' in dot and "sum over 1h" in dot


def test_window_grid_makes_one_node_per_combination() -> None:
    names = [n for n in DAG.nodes if n.startswith("spend_")]
    assert sorted(names) == sorted(f"spend_{a}_{w}" for a in ("sum", "count", "mean") for w in ("5m", "1h", "10d"))
    assert str(DAG.nodes["spend_count_1h"].returns) == "int"
    assert str(DAG.nodes["spend_mean_1h"].returns) == "float | None"
    assert str(fdag.Dag.from_modules(reading).nodes["last_5_articles"].returns) == "list[str]"


def test_missing_source_events_are_named() -> None:
    frame = fdag.FrameDriver(DAG, ["spend_sum_1h"])
    with pytest.raises(fdag.InputError, match=r"input 'transactions' is a source of the requested features but no "
                       r"events were given for it\. Hint: pass sources=\{'transactions': events\}"):
        frame.run(pl.DataFrame({"user_id": ["u1"], "as_of": [T]}))


def test_null_keys_in_events_are_rejected_offline() -> None:
    bad = pl.DataFrame(EVENTS).with_columns(user_id=pl.when(pl.col("txn_id") == "t1").then(None)
                                            .otherwise(pl.col("user_id")))
    with pytest.raises(fdag.SourceError,
                       match=r"^source 'transactions' column 'user_id' is null in 1 events\. Hint: drop or repair"):
        fdag.FrameDriver(DAG, ["spend_sum_1h"]).run(pl.DataFrame({"user_id": ["u1"], "as_of": [T]}),
                                                     sources={"transactions": bad})


@pytest.mark.parametrize("module", [fraud, reading], ids=lambda m: m.__name__)
def test_engines_agree_on_generated_histories(module) -> None:  # type: ignore[no-untyped-def]
    fdag.check(fdag.Dag.from_modules(module), examples=60)


def test_with_as_of_reports_each_values_as_of() -> None:
    frame = fdag.FrameDriver(DAG, ["spend_sum_1h", "hour_of_day"])
    late = T + timedelta(days=1)
    out = frame.run(pl.DataFrame({"user_id": ["u1", "u1"], "as_of": [T, late]}),
                    sources={"transactions": pl.DataFrame(EVENTS)}, with_as_of=True)
    watermark = T + timedelta(hours=1)
    assert out["spend_sum_1h__as_of"].to_list() == [T, watermark]
    assert out["hour_of_day__as_of"].to_list() == [T, late]


def test_the_leakage_guard_raises_on_a_value_from_the_future(monkeypatch: pytest.MonkeyPatch) -> None:
    import fdag._frame.driver

    def leaky(plan, watermarks):  # type: ignore[no-untyped-def]
        return {name: pl.col("as_of") + timedelta(microseconds=1) for name in plan.outputs}

    monkeypatch.setattr(fdag._frame.driver, "as_of_columns", leaky)
    frame = fdag.FrameDriver(DAG, ["spend_sum_1h"])
    spine = pl.DataFrame({"user_id": ["u1"], "as_of": [T]})
    with pytest.raises(fdag.PointInTimeError, match=r"feature 'spend_sum_1h' has 1 values whose as-of is after their "
                       r"row's as_of, first at spine row 0"):
        frame.run(spine, sources={"transactions": pl.DataFrame(EVENTS)})
    assert frame.run(spine, sources={"transactions": pl.DataFrame(EVENTS)}, check_as_of=False).height == 1


def test_watermark_and_held_events_to_resume_a_stream() -> None:
    row = fdag.RowDriver(DAG, ["spend_sum_1h"])
    assert row.watermark("transactions") is None and row.held("transactions") == 0
    row.ingest("transactions", EVENTS)
    assert row.watermark("transactions") == T + timedelta(hours=1)
    assert row.held("transactions") == 3  # t4 is 11 days older than the watermark: too late for any window
