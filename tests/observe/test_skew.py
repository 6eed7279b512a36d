"""``fdag.skew``: logged serving recomputed offline; mismatches found exactly where serving went wrong."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import fdag
from fdag.cli import main
from fdag.demo.samples import transactions
from feature_modules import fraud
from tests.resources import skew as two_sources

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def serve(row: fdag.RowDriver, events: Mapping[str, pl.DataFrame], requests: list[dict[str, Any]],
          skip: Iterable[str] = ()) -> None:
    """Feed every event before each request's as_of (in time order, except the ids in ``skip``), then get it."""
    skipped = set(skip)
    stream = sorted(((event["ts"], name, event) for name, frame in events.items() for event in frame.to_dicts()),
                    key=lambda item: item[0])
    position = 0
    for request in sorted(requests, key=lambda r: r["as_of"]):
        while position < len(stream) and stream[position][0] < request["as_of"]:
            _, name, event = stream[position]
            if not skipped & {event.get("payment_id"), event.get("login_id"), event.get("txn_id")}:
                row.ingest(name, event)
            position += 1
        row.get({k: v for k, v in request.items() if k != "as_of"}, as_of=request["as_of"])


def two_source_events(seed: int = 5) -> dict[str, pl.DataFrame]:
    rng = random.Random(seed)
    cards = [f"c{i}" for i in range(6)]
    payments = [{"payment_id": f"p{i}", "card": rng.choice(cards), "ts": T0 + timedelta(seconds=rng.randrange(172800)),
                 "amount": round(rng.uniform(1, 200), 2)} for i in range(600)]
    logins = [{"login_id": f"l{i}", "card": rng.choice(cards), "ts": T0 + timedelta(seconds=rng.randrange(172800)),
               "device": f"d{rng.randrange(4)}"} for i in range(400)]
    return {"payments": pl.DataFrame(payments), "logins": pl.DataFrame(logins)}


def two_source_requests(seed: int = 6) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"card": f"c{rng.randrange(7)}", "amount": round(rng.uniform(1, 300), 2),  # c6 has no events at all
             "as_of": T0 + timedelta(seconds=rng.randrange(3600, 172800))} for _ in range(300)]


def test_a_clean_serve_has_no_skew(tmp_path: Path) -> None:
    dag = fdag.Dag.from_modules(fraud)
    events = transactions(users=30, count=1500, days=4)  # unsorted, with re-sent duplicates
    payments = events.unique("txn_id", keep="first").sort("ts").gather_every(4)
    requests = [{"user_id": r["user_id"], "amount": r["amount"], "merchant": r["merchant"], "as_of": r["ts"]}
                for r in payments.iter_rows(named=True)]
    requests += [{"user_id": "nobody", "amount": 5.0, "merchant": "m1", "as_of": T0 + timedelta(hours=30)}]
    with fdag.FeatureLog(tmp_path / "log") as log:
        serve(fdag.RowDriver(dag, log=log), {"transactions": events}, requests)
    report = fdag.skew(dag, tmp_path / "log", sources={"transactions": events})
    assert report.ok, report
    assert report.rows == len(requests) and report.changed_versions == {} and report.examples.height == 0
    assert report.table["feature"].to_list() == list(dag.plan(None).outputs)
    assert report.table["rows"].to_list() == [len(requests)] * len(dag.nodes)
    assert report.table["mismatches"].sum() == 0 and report.table["mismatch_rate"].max() == 0.0


def brute_window(events: list[dict[str, Any]], card: str, as_of: datetime, over: timedelta) -> list[dict[str, Any]]:
    return [e for e in events if e["card"] == card and as_of - over <= e["ts"] < as_of]


def test_missed_events_are_caught_on_exactly_the_features_that_read_them(tmp_path: Path) -> None:
    dag = fdag.Dag.from_modules(two_sources)
    events = two_source_events()
    requests = two_source_requests()
    payments = events["payments"].to_dicts()
    missed = {p["payment_id"] for p in payments[::15]}  # the serving process never saw these payments
    with fdag.FeatureLog(tmp_path / "log") as log:
        serve(fdag.RowDriver(dag, log=log), events, requests, skip=missed)
    report = fdag.skew(dag, log, sources=events)

    # The oracle: which requests had a missed payment inside each window (brute force over the event lists).
    lost = [p for p in payments if p["payment_id"] in missed]
    logins = events["logins"].to_dicts()
    expected = {"logins_1h": 0, "devices_1d": 0, "large": 0, "amount_cents": 0, "spend_1h": 0, "payments_1d": 0,
                "spend_per_login": 0}
    for r in requests:
        in_hour = brute_window(lost, r["card"], r["as_of"], timedelta(hours=1))
        expected["spend_1h"] += bool(in_hour)
        expected["payments_1d"] += bool(brute_window(lost, r["card"], r["as_of"], timedelta(days=1)))
        expected["spend_per_login"] += bool(in_hour) and bool(brute_window(logins, r["card"], r["as_of"],
                                                                           timedelta(hours=1)))
    got = dict(report.table.select("feature", "mismatches").iter_rows())
    assert got == expected
    assert expected["spend_1h"] > 10 and expected["payments_1d"] > expected["spend_1h"]
    assert expected["spend_per_login"] > 0
    assert not report.ok and report.mismatches == sum(expected.values())
    rates = dict(report.table.select("feature", "mismatch_rate").iter_rows())
    assert rates["payments_1d"] == pytest.approx(expected["payments_1d"] / len(requests))

    # Each example holds what was served (without the missed payments) and what the full history gives.
    example = report.examples.filter(pl.col("feature") == "spend_1h").row(0, named=True)
    request = next(r for r in sorted(requests, key=lambda r: r["as_of"]) if r["as_of"] == example["as_of"])
    seen = [p for p in payments if p["payment_id"] not in missed]
    served = sum(p["amount"] for p in brute_window(seen, request["card"], request["as_of"], timedelta(hours=1)))
    full = sum(p["amount"] for p in brute_window(payments, request["card"], request["as_of"], timedelta(hours=1)))
    assert float(example["logged"]) == pytest.approx(served) and float(example["recomputed"]) == pytest.approx(full)
    assert report.examples.filter(pl.col("feature") == "spend_1h").height == 5  # a few per feature, not all
    assert set(report.examples["feature"]) == {name for name, count in expected.items() if count}


def relog(directory: Path, change: Mapping[str, pl.Expr]) -> None:
    """Rewrite the (single) log file with some logged values changed, keeping its fdag metadata."""
    [file] = directory.glob("*.parquet")
    frame = pl.read_parquet(file).with_columns(**change)
    frame.write_parquet(file, metadata=pl.read_parquet_metadata(file))


def test_floats_compare_within_the_engines_tolerance(tmp_path: Path) -> None:
    dag = fdag.Dag.from_modules(two_sources)
    events = two_source_events()
    with fdag.FeatureLog(tmp_path, max_seconds=None) as log:
        serve(fdag.RowDriver(dag, log=log), events, two_source_requests())
    original = pl.read_parquet(next(tmp_path.glob("*.parquet")))
    first = pl.int_range(pl.len()) < 5
    spend = pl.col("spend_1h")
    relog(tmp_path, {
        # Window features: 1e-6 relative, or 1e-6 absolute near zero, is the same value; 1e-5 is not.
        "spend_1h": pl.when(spend == 0).then(5e-7).when(first).then(spend * (1 + 1e-5)).otherwise(spend * (1 + 5e-7)),
        # Scalar features: 1e-9 relative; 1e-7 is a mismatch, 1e-12 is not.
        "amount_cents": pl.col("amount_cents") * pl.when(first).then(1 + 1e-7).otherwise(1 + 1e-12),
        # Nulls equal nulls; a value is never equal to null.
        "spend_per_login": pl.lit(None, pl.Float64()),
    })
    got = dict(fdag.skew(dag, tmp_path, sources=events).table.select("feature", "mismatches").iter_rows())
    nonzero_first = original.head(5).filter(pl.col("spend_1h") != 0).height
    assert nonzero_first > 0 and got["spend_1h"] == nonzero_first
    assert got["amount_cents"] == 5
    non_null = original["spend_per_login"].is_not_null().sum()
    assert 0 < non_null < original.height and got["spend_per_login"] == non_null
    assert got["payments_1d"] == got["logins_1h"] == 0


def test_a_feature_whose_code_changed_is_reported_not_compared(tmp_path: Path, make_module) -> None:  # type: ignore[no-untyped-def]
    source = '''
        from datetime import datetime
        import fdag

        payments = fdag.Source("payments", key="card", timestamp="ts", id="payment_id",
                               schema={"payment_id": str, "card": str, "ts": datetime, "amount": float})

        @fdag.window(payments, agg="sum", over="1h")
        def spend_1h(amount: float) -> float:
            return amount

        def spend_cents(spend_1h: float) -> float:
            return spend_1h * 100

        def doubled_cents(spend_cents: float) -> float:
            return spend_cents * 2

        def large(amount: float) -> bool:
            return amount > 100
    '''
    events = {"payments": two_source_events()["payments"]}
    requests = two_source_requests()
    old = fdag.Dag.from_modules(make_module("served_v1", source))
    with fdag.FeatureLog(tmp_path) as log:
        serve(fdag.RowDriver(old, log=log), events, requests)
    new = fdag.Dag.from_modules(make_module("served_v1", source.replace("spend_1h * 100", "spend_1h * 100.0 + 1")))
    report = fdag.skew(new, tmp_path, sources=events)
    # The changed function and everything downstream of it have new versions; the rest is compared.
    assert set(report.changed_versions) == {"spend_cents", "doubled_cents"}
    change = report.changed_versions["spend_cents"]
    assert change.logged == (old.version("spend_cents"),) and change.current == new.version("spend_cents")
    assert change.rows == len(requests)
    assert sorted(report.table["feature"]) == ["large", "spend_1h"] and report.ok
    assert "spend_cents: logged as" in str(report) and "not compared" in report.to_html()


def test_the_command_line_exits_1_on_skew_and_writes_a_self_contained_page(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    dag = fdag.Dag.from_modules(two_sources)
    events = two_source_events()
    for name, frame in events.items():
        frame.write_parquet(tmp_path / f"{name}.parquet")
    missed = {p["payment_id"] for p in events["payments"].to_dicts()[::15]}
    with fdag.FeatureLog(tmp_path / "clean") as clean, fdag.FeatureLog(tmp_path / "skewed") as skewed:
        serve(fdag.RowDriver(dag, log=clean), events, two_source_requests())
        serve(fdag.RowDriver(dag, log=skewed), events, two_source_requests(), skip=missed)
    sources = [item for name in events for item in ("--source", f"{name}={tmp_path / name}.parquet")]
    assert main(["skew", "tests.resources.skew", "--log", str(tmp_path / "clean"), *sources]) == 0
    assert "skew of 300 logged rows" in capsys.readouterr().out
    page = tmp_path / "skew.html"
    assert main(["skew", "tests.resources.skew", "--log", str(tmp_path / "skewed"), *sources, "--html",
                 str(page)]) == 1
    out = capsys.readouterr().out
    assert "examples:" in out and "spend_1h at " in out
    html = page.read_text()
    assert html.startswith("<!DOCTYPE html>") and "served values differ" in html
    assert "http://" not in html and "https://" not in html and "<link" not in html
    assert all(f"<td>{name}</td>" in html for name in ("spend_1h", "payments_1d", "logins_1h"))


def test_an_empty_or_foreign_directory_is_refused(tmp_path: Path) -> None:
    dag = fdag.Dag.from_modules(two_sources)
    with pytest.raises(fdag.InputError, match=r"holds no feature log files .* Hint: serve with"):
        fdag.skew(dag, tmp_path)
    pl.DataFrame({"a": [1]}).write_parquet(tmp_path / "other.parquet")
    with pytest.raises(fdag.InputError, match="is not a feature log file"):
        fdag.skew(dag, tmp_path)
