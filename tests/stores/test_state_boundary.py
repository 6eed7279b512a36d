"""Trust at the state boundary, for MemoryStore and RedisStore alike: events dated far in the future are not
applied, and a get whose window reaches below what the state still holds raises instead of answering short."""

from __future__ import annotations

import math
import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

import fdag
from fdag._stores.memory import MemoryStore
from fdag._stores.protocol import IngestReport
from fdag._stores.redis import RedisStore
from fdag.errors import PointInTimeError, SourceError, TruncatedStateError
from tests.resources import daily, snapshots

DAG = fdag.Dag.from_modules(daily)
T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOUR, DAY, TICK = timedelta(hours=1), timedelta(days=1), timedelta(microseconds=1)
USERS = [f"u{i}" for i in range(5)]
SCHEMA = {c: t.polars for c, t in daily.payments.schema.items()}


def payment(pid: str, ts: datetime, user: str = "u1", amount: float = 1.0) -> dict[str, Any]:
    return {"pid": pid, "user": user, "ts": ts, "amount": amount}


def history(days: float, rows: int = 5000, seed: int = 1, start: datetime = T0) -> pl.DataFrame:
    """``rows`` payments of five users spread over ``days`` from ``start``, unsorted."""
    rng = random.Random(seed)
    return pl.DataFrame([payment(f"p{i}", start + timedelta(days=rng.uniform(0, days)), rng.choice(USERS),
                                 round(rng.uniform(0, 100), 2)) for i in range(rows)], schema=SCHEMA)


def offline(events: pl.DataFrame, asks: list[tuple[str, datetime]]) -> list[dict[str, Any]]:
    """FrameDriver's features for each (user, as_of): the oracle of what the online state must answer."""
    spine = pl.DataFrame({"user": [u for u, _ in asks], "as_of": [a for _, a in asks]},
                         schema={"user": pl.String, "as_of": pl.Datetime("us", "UTC")})
    frame = fdag.FrameDriver(DAG)
    return frame.run(spine, sources={"payments": events}).select(frame.outputs).to_dicts()


def assert_exact(row: fdag.RowDriver, events: pl.DataFrame, asks: list[tuple[str, datetime]]) -> None:
    """Every feature of every (user, as_of) equals FrameDriver's (ints exactly, floats to 1e-9)."""
    for (user, as_of), want in zip(asks, offline(events, asks), strict=True):
        got = row.get({"user": user}, as_of).values
        for name, value in want.items():
            if isinstance(value, float):
                assert math.isclose(got[name], value, rel_tol=1e-9, abs_tol=1e-9), (user, as_of, name)
            else:
                assert got[name] == value, (user, as_of, name, got[name], value)


# ----------------------------------------------------------------------------------------- events from the future

def test_max_future_defaults_to_an_hour_and_is_validated() -> None:
    assert daily.payments.max_future == HOUR
    schema = {"k": str, "ts": datetime}
    assert fdag.Source("s", key="k", timestamp="ts", schema=schema, max_future=None).max_future is None
    assert fdag.Source("s", key="k", timestamp="ts", schema=schema, max_future=DAY).max_future == DAY
    for bad in ("0s", "-1h", "soon", timedelta(0), timedelta(seconds=-1), 5):
        with pytest.raises(SourceError, match=r"^source 's' max_future=.* Hint: .*"):
            fdag.Source("s", key="k", timestamp="ts", schema=schema, max_future=bad)  # type: ignore[arg-type]


def test_events_beyond_max_future_are_counted_not_applied(store: Any) -> None:
    row = fdag.RowDriver(DAG, store=store)
    now = datetime.now(UTC)
    report = row.ingest("payments", [
        payment("a", now - 3 * HOUR, amount=2.0),
        payment("typo", datetime(9999, 12, 31, tzinfo=UTC), amount=1000.0),  # one mistyped year
        payment("b", now + 2 * HOUR, amount=1000.0),
        payment("c", now + HOUR / 2, amount=3.0),
    ])
    assert report == IngestReport(accepted=2, duplicates=0, too_late=0, future=2)
    assert row.watermark("payments") == now + HOUR / 2
    # Later real events are not "too late", and a future event's id is not remembered as seen.
    assert row.ingest("payments", [payment("d", now - 2 * HOUR, amount=5.0), payment("b", now - HOUR, amount=7.0)]
                      ) == IngestReport(accepted=2)
    vec = row.get({"user": "u1"}, now + HOUR)
    assert (vec["paid_sum_1d"], vec["paid_count_1d"], vec["paid_max_1d"]) == (17.0, 4, 7.0)


def test_bootstrap_skips_rows_beyond_max_future(store: Any) -> None:
    row = fdag.RowDriver(DAG, store=store)
    now = datetime.now(UTC).replace(microsecond=0)
    rows = [payment("a", now - HOUR), payment("typo", datetime(9999, 1, 1, tzinfo=UTC)), payment("b", now)]
    assert row.bootstrap("payments", pl.DataFrame(rows, schema=SCHEMA)) == IngestReport(accepted=2, future=1)
    assert row.watermark("payments") == now
    assert row.get({"user": "u1"}, now + TICK)["paid_count_1d"] == 2


def test_max_future_none_admits_any_instant(make_module: Any) -> None:
    module = make_module("unlimited", """
        from datetime import datetime
        import fdag
        clicks = fdag.Source("clicks", key="k", timestamp="ts", schema={"k": str, "ts": datetime}, max_future=None)

        @fdag.window(clicks, agg="count", over="1h")
        def click(ts: datetime) -> datetime:
            return ts
    """)
    row = fdag.RowDriver(fdag.Dag.from_modules(module))
    far = datetime(9999, 1, 1, tzinfo=UTC)
    assert row.ingest("clicks", {"k": "a", "ts": far}) == IngestReport(accepted=1)
    assert row.get({"k": "a"}, far + TICK)["click"] == 1


def test_offline_a_future_event_changes_nothing_before_its_instant(store: Any) -> None:
    """Offline needs no max_future: a window at as_of never reads events after as_of, wherever they are dated."""
    now = datetime.now(UTC)
    events = history(2, rows=300, start=now - 2 * DAY)
    with_typo = pl.concat([events, pl.DataFrame([payment("typo", datetime(9999, 1, 1, tzinfo=UTC), "u1", 1e6)],
                                                schema=SCHEMA)])
    asks = [(user, now - k * HOUR) for user in USERS for k in (0, 1, 5)]
    assert offline(with_typo, asks) == offline(events, asks)
    row = fdag.RowDriver(DAG, store=store)
    assert row.ingest("payments", with_typo).future == 1
    assert_exact(row, events, [(u, a) for u, a in asks if a >= now - HOUR])


# ------------------------------------------------------------------------------------- truncated state raises

def test_get_below_what_bootstrapped_state_holds_raises(store: Any) -> None:
    events = history(30)
    row = fdag.RowDriver(DAG, store=store)
    report = row.bootstrap("payments", events)
    assert report.too_late > 4000  # 25h of 30 days are kept
    watermark = row.watermark("payments")
    assert watermark is not None
    with pytest.raises(PointInTimeError, match=r"^source 'payments' state .* Hint: past features come from "
                                               r"FrameDriver") as caught:
        row.get({"user": "u1"}, watermark - 20 * DAY)
    error = caught.value
    assert isinstance(error, TruncatedStateError)
    assert (error.source, error.as_of, error.longest) == ("payments", watermark - 20 * DAY, DAY)
    skipped = events.filter(pl.col("ts") < watermark - DAY - HOUR)["ts"].max()
    assert (error.complete_from, error.answerable_from) == (skipped + TICK, skipped + TICK + DAY)
    assert error.answerable_from <= watermark - HOUR
    with pytest.raises(PointInTimeError):
        row.get({"user": "nobody"}, error.answerable_from - TICK)  # an unknown key too: its events may be gone
    row.get({"user": "nobody"}, error.answerable_from)
    asks = [(user, watermark + delta) for user in [*USERS, "nobody"]
            for delta in (-HOUR, -HOUR / 2, -TICK, timedelta(0), 5 * HOUR, 2 * DAY)]
    assert_exact(row, events, asks)


def test_eviction_and_too_late_events_move_the_horizon(store: Any) -> None:
    row = fdag.RowDriver(DAG, store=store)
    start = T0 + 2 * DAY
    assert row.ingest("payments", [payment("first", start)]).accepted == 1
    assert row.get({"user": "u1"}, start - DAY)["paid_count_1d"] == 0  # nothing dropped yet: any as_of answers
    assert row.ingest("payments", [payment("late", T0)]).too_late == 1  # dropped: a window over T0 is short
    with pytest.raises(PointInTimeError):
        row.get({"user": "u1"}, T0 + DAY)
    assert row.get({"user": "u1"}, T0 + DAY + TICK)["paid_count_1d"] == 0  # starts just after what was lost
    assert row.get({"user": "u1"}, start - HOUR)["paid_count_1d"] == 0  # at watermark - allowed_lateness: exact
    assert row.get({"user": "u1"}, start + TICK)["paid_count_1d"] == 1
    stream = history(3, rows=900, seed=2, start=start).sort("ts")
    for first in range(0, stream.height, 100):
        row.ingest("payments", stream.slice(first, 100))
    watermark = row.watermark("payments")
    assert watermark is not None
    with pytest.raises(PointInTimeError) as caught:
        row.get({"user": "u2"}, watermark - 2 * DAY)
    # Events the horizon passed may be evicted at any moment: the state is complete from the horizon only.
    assert caught.value.complete_from == watermark - DAY - HOUR  # type: ignore[attr-defined]
    assert_exact(row, pl.concat([pl.DataFrame([payment("first", start)], schema=SCHEMA), stream]),
                 [(user, watermark - HOUR) for user in USERS])


def test_state_that_dropped_nothing_answers_every_as_of_exactly(store: Any) -> None:
    events = history(0.9, rows=600, seed=3)  # within the 25h retention: nothing is ever evicted
    streamed, loaded = fdag.RowDriver(DAG, store=store), fdag.RowDriver(DAG, store=MemoryStore())
    for first in range(0, events.height, 50):
        assert streamed.ingest("payments", events.slice(first, 50)).too_late == 0
    assert loaded.bootstrap("payments", events).too_late == 0
    asks = [(user, T0 + k * 3 * HOUR) for user in USERS[:3] for k in range(-9, 18)]
    assert_exact(streamed, events, asks)
    assert_exact(loaded, events, asks)


def test_redis_shares_the_horizon_between_processes(redis_server: Any) -> None:
    namespace = f"t-{uuid.uuid4().hex[:8]}"
    writer = fdag.RowDriver(DAG, store=RedisStore(redis_server.url, namespace=namespace))
    writer.bootstrap("payments", history(30))
    reader = fdag.RowDriver(DAG, store=RedisStore(redis_server.url, namespace=namespace))  # never ingested
    watermark = reader.watermark("payments")
    assert watermark is not None
    with pytest.raises(PointInTimeError):
        reader.get({"user": "u1"}, watermark - 20 * DAY)
    assert reader.get({"user": "u1"}, watermark - HOUR).values == writer.get({"user": "u1"}, watermark - HOUR).values


# ------------------------------------------------------------------------------------------------- lookup state

SNAPSHOTS = fdag.Dag.from_modules(snapshots)
LOOKUPS = ["balance_now", "tier_upper"]  # over accounts (max_future: the default hour), lags 0 and 1 day
ACCOUNTS = {c: t.polars for c, t in snapshots.accounts.schema.items()}


def snapshot(snap_id: int, at: datetime, balance: float, account: int = 1) -> dict[str, Any]:
    return {"snap_id": snap_id, "account": account, "event_timestamp": at, "balance": balance, "tier": f"t{snap_id}"}


def lookups_offline(rows: list[dict[str, Any]], as_ofs: list[datetime]) -> list[dict[str, Any]]:
    """FrameDriver's lookups of account 1 at each as_of: the oracle of what the lookup state must answer."""
    spine = pl.DataFrame({"account": [1] * len(as_ofs), "as_of": as_ofs},
                         schema={"account": pl.Int64, "as_of": pl.Datetime("us", "UTC")})
    frame = fdag.FrameDriver(SNAPSHOTS, LOOKUPS)
    return frame.run(spine, sources={"accounts": pl.DataFrame(rows, schema=ACCOUNTS)}).select(LOOKUPS).to_dicts()


def test_lookup_state_counts_rows_beyond_max_future_and_skips_them(store: Any) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    streamed = fdag.RowDriver(SNAPSHOTS, LOOKUPS, store=store)
    sane = [snapshot(1, now - 2 * DAY, 1.0), snapshot(2, now - HOUR, 2.0)]
    typo = [snapshot(3, datetime(9999, 1, 1, tzinfo=UTC), 1e6), snapshot(4, now + 2 * HOUR, 1e6)]
    assert streamed.ingest("accounts", [sane[0], typo[0], sane[1], typo[1]]) == IngestReport(accepted=2, future=2)
    # A second state of the same kind (Redis: another namespace, or the two would share one state).
    other = RedisStore(store.url, f"{store.namespace}-b") if isinstance(store, RedisStore) else MemoryStore()
    loaded = fdag.RowDriver(SNAPSHOTS, LOOKUPS, store=other)
    frame = pl.DataFrame([*typo, *sane], schema=ACCOUNTS)
    assert loaded.bootstrap("accounts", frame) == IngestReport(accepted=2, future=2)
    for row in (streamed, loaded):
        assert row.watermark("accounts") == now - HOUR  # a mistyped year moves nothing
        vec = row.get({"account": 1}, now + 3 * HOUR)  # after the second typo's instant: still not applied
        assert (vec["balance_now"], vec["tier_upper"]) == (2.0, "T1")
    # A future row's id is not remembered: the same id, sanely dated, is applied later.
    assert streamed.ingest("accounts", snapshot(4, now, 4.0)) == IngestReport(accepted=1)
    assert streamed.get({"account": 1}, now + TICK)["balance_now"] == 4.0


def test_lookup_state_loses_nothing_so_it_answers_every_as_of(store: Any) -> None:
    """Rows years older than the watermark, even arriving after it moved, are kept: no as_of is truncated."""
    rows = [snapshot(i, T0 - timedelta(days=400 * i), float(i)) for i in range(6)]
    row = fdag.RowDriver(SNAPSHOTS, LOOKUPS, store=store)
    assert row.bootstrap("accounts", pl.DataFrame(rows[:3], schema=ACCOUNTS)) == IngestReport(accepted=3)
    assert row.ingest("accounts", rows[3:]) == IngestReport(accepted=3)  # older than any window's horizon
    as_ofs = [T0 - timedelta(days=400 * i) + delta for i in range(7) for delta in (-TICK, timedelta(0), DAY + TICK)]
    want = lookups_offline(rows, as_ofs)
    assert [row.get({"account": 1}, as_of).values for as_of in as_ofs] == want
    # By hand: a day after the oldest row both lags read it; before it there is nothing.
    assert want[5 * 3 + 2] == {"balance_now": 5.0, "tier_upper": "T5"}
    assert want[6 * 3 + 2] == {"balance_now": None, "tier_upper": None}
