"""Lookups: RowDriver (MemoryStore, RedisStore) and FrameDriver against a brute-force oracle written here.

Snapshot rows sit on a coarse grid, so ties at one timestamp and requests exactly on the edges of availability
(``ts + lag == as_of``) and of age (``ts == as_of - lag - max_age``) are common; values are null now and then,
ids are re-sent (some copies with another timestamp and value), keys are ints and strings, and neither source
names its timestamp "ts". Every value and every as-of must equal the oracle's.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
import pytest

import fdag
from fdag._stores.redis import RedisStore
from tests.redis_server import RedisServer
from tests.resources import snapshots

DAG = fdag.Dag.from_modules(snapshots)
ORIGIN = datetime(2024, 6, 1, tzinfo=UTC)
TICK = timedelta(microseconds=1)
STEP = timedelta(minutes=10)  # the rows' grid: every lag and max age below is a multiple of it
H = timedelta(hours=1)


def _upper(tier: str | None) -> str | None:
    return None if tier is None else tier.upper()


# node -> (source, column read, per-row function, lag, max_age, default): the declarations, restated by hand.
LOOKUPS: dict[str, tuple[str, str, Callable[[Any], Any], timedelta, timedelta | None, Any]] = {
    "balance_now": ("accounts", "balance", lambda v: v, timedelta(0), None, None),
    "balance_fresh": ("accounts", "balance", lambda v: v, H, 2 * H, 0.0),
    "tier_recent": ("accounts", "tier", lambda v: v, H, H / 2, "unknown"),
    "tier_upper": ("accounts", "tier", _upper, timedelta(days=1), None, None),
    "price_recent": ("prices", "price", lambda v: v, timedelta(0), STEP, -1.0),
    "price_lagged": ("prices", "price", lambda v: v, timedelta(minutes=5), None, None),
}
STAMPS = {"accounts": "event_timestamp", "prices": "at"}
KEYS = {"accounts": "account", "prices": "sku"}
IDS = {"accounts": "snap_id", "prices": None}


def make_rows(seed: int) -> dict[str, list[dict[str, Any]]]:
    """Rows of both sources in frame (= arrival) order: grid timestamps, nulls, ties, re-sent ids."""
    rng = random.Random(seed)

    def at() -> datetime:
        return ORIGIN + STEP * rng.randrange(0, 40)

    accounts: list[dict[str, Any]] = []
    for snap_id in rng.sample(range(1000), 40):  # ids out of timestamp order: ties must go by id, not arrival
        accounts.append({"snap_id": snap_id, "account": rng.choice([1, 2, -7]), "event_timestamp": at(),
                         "balance": rng.choice([None, 10.0, 0.5, -3.0, float(rng.randrange(100))]),
                         "tier": rng.choice([None, "gold", "basic", "ß"])})
    # Re-sent ids, dated at or after their original and arriving after it (in time order, where online's first
    # to arrive is offline's earliest copy): the first copy wins, whatever the second says.
    for original in rng.sample(accounts, 6):
        accounts.insert(rng.randrange(accounts.index(original) + 1, len(accounts) + 1),
                        {**original, "event_timestamp": max(original["event_timestamp"], at()), "balance": 999.0})
    prices = [{"sku": rng.choice(["a", "b", "ü"]), "at": at(), "price": rng.choice([None, 1.0, 2.5, 0.0, 4.0])}
              for _ in range(40)]
    return {"accounts": accounts, "prices": prices}


def first_copies(source: str, rows: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """(frame position, row) of the rows that count: the first copy of each id."""
    ident, seen, kept = IDS[source], set(), []
    for position, row in enumerate(rows):
        if ident is not None:
            if row[ident] in seen:
                continue
            seen.add(row[ident])
        kept.append((position, row))
    return kept


def oracle(rows: dict[str, list[dict[str, Any]]], request: dict[str, Any],
           watermarks: dict[str, datetime | None]) -> tuple[dict[str, Any], dict[str, datetime | None]]:
    """Every lookup's value and as-of by the definition: scan all rows of the key, keep the newest available."""
    as_of = request["as_of"]
    values: dict[str, Any] = {}
    as_ofs: dict[str, datetime | None] = {}
    for node, (source, column, function, lag, max_age, default) in LOOKUPS.items():
        key, stamp, ident = KEYS[source], STAMPS[source], IDS[source]
        if request[key] is None:
            values[node], as_ofs[node] = None, None
            continue
        cutoff = as_of - lag
        available = [(row[stamp], row[ident] if ident else position, row)
                     for position, row in first_copies(source, rows[source])
                     if row[key] == request[key] and row[stamp] <= cutoff]
        newest = max(available, key=lambda found: found[:2], default=None)
        if newest is not None and (max_age is None or newest[0] >= cutoff - max_age):
            values[node], as_ofs[node] = function(newest[2][column]), newest[0]
        else:
            watermark = watermarks[source]
            values[node] = default
            as_ofs[node] = None if default is None or watermark is None else min(cutoff, watermark)
    fresh, price = values["balance_fresh"], values["price_recent"]
    values["balance_in_units"] = None if fresh is None or price is None or price <= 0 else fresh / price
    parts = [as_of, as_ofs["balance_fresh"], as_ofs["price_recent"]]
    as_ofs["balance_in_units"] = None if None in parts else min(parts)  # type: ignore[type-var]
    return values, as_ofs


def make_requests(seed: int) -> list[dict[str, Any]]:
    """Requests on and one microsecond around every availability and age edge of the grid."""
    rng = random.Random(seed + 100)
    edges = {timedelta(0)} | {lag for *_, lag, _, _ in LOOKUPS.values()}
    edges |= {lag + max_age for *_, lag, max_age, _ in LOOKUPS.values() if max_age is not None}
    requests = []
    for _ in range(150):
        row_time = ORIGIN + STEP * rng.randrange(-2, 45)
        as_of = row_time + rng.choice(sorted(edges)) + rng.choice([-TICK, timedelta(0), TICK])
        requests.append({"account": rng.choice([1, 2, -7, 99, None]), "sku": rng.choice(["a", "b", "ü", "zz", None]),
                         "as_of": as_of})
    return requests


OUTPUTS = [*LOOKUPS, "balance_in_units"]


def offline(rows: dict[str, list[dict[str, Any]]], requests: list[dict[str, Any]]) -> list[tuple[dict, dict]]:
    spine = pl.DataFrame(requests, schema={"account": pl.Int64, "sku": pl.String, "as_of": pl.Datetime("us", "UTC")})
    sources = {name: pl.DataFrame(rows[name], schema={c: t.polars for c, t in DAG.sources[name].schema.items()})
               for name in rows}
    out = fdag.FrameDriver(DAG, OUTPUTS).run(spine, sources=sources, with_as_of=True)
    return [({name: got[name] for name in OUTPUTS}, {name: got[f"{name}__as_of"] for name in OUTPUTS})
            for got in out.to_dicts()]


def online(store: Any, rows: dict[str, list[dict[str, Any]]], requests: list[dict[str, Any]],
           seed: int, reports: list[Any] | None = None) -> list[tuple[dict, dict]]:
    """Rows fed in frame order: the first third as a bootstrapped frame, the rest as ingest batches (their
    reports appended to ``reports``)."""
    row = fdag.RowDriver(DAG, OUTPUTS, store=store)
    rng = random.Random(seed + 200)
    done = [] if reports is None else reports
    for name, given in rows.items():
        cut = len(given) // 3
        schema = {c: t.polars for c, t in DAG.sources[name].schema.items()}
        done.append(row.materialize(name, pl.DataFrame(given[:cut], schema=schema)))
        position = cut
        while position < len(given):
            size = rng.randrange(1, 8)
            done.append(row.ingest(name, given[position : position + size]))
            position += size
    vectors = [row.get(request, request["as_of"]) for request in requests]
    return [(dict(vector.values), dict(vector.as_of)) for vector in vectors]


def check_against_oracle(results: list[tuple[dict, dict]], rows: dict[str, list[dict[str, Any]]],
                         requests: list[dict[str, Any]], watermarks: dict[str, datetime | None]) -> None:
    for request, (values, as_ofs) in zip(requests, results, strict=True):
        want_values, want_as_ofs = oracle(rows, request, watermarks)
        for name in OUTPUTS:
            assert type(values[name]) is type(want_values[name]) and values[name] == want_values[name], \
                (name, request, values[name], want_values[name])
            assert as_ofs[name] == want_as_ofs[name], (name, request, as_ofs[name], want_as_ofs[name])


def watermarks_of(rows: dict[str, list[dict[str, Any]]], online: bool) -> dict[str, datetime | None]:
    """The largest timestamp per source: of the applied rows online, of the whole frame offline."""
    marks: dict[str, datetime | None] = {}
    for name, given in rows.items():
        counted = [row for _, row in first_copies(name, given)] if online else given
        marks[name] = max((row[STAMPS[name]] for row in counted), default=None)
    return marks


SEEDS = range(8)


@pytest.mark.parametrize("seed", SEEDS)
def test_frame_driver_matches_the_oracle(seed: int) -> None:
    rows, requests = make_rows(seed), make_requests(seed)
    check_against_oracle(offline(rows, requests), rows, requests, watermarks_of(rows, online=False))


@pytest.mark.parametrize("seed", SEEDS)
def test_row_driver_on_memory_store_matches_the_oracle(seed: int) -> None:
    rows, requests = make_rows(seed), make_requests(seed)
    results = online(fdag.MemoryStore(), rows, requests, seed)
    check_against_oracle(results, rows, requests, watermarks_of(rows, online=True))


@pytest.mark.parametrize("seed", SEEDS[:4])
def test_row_driver_on_redis_store_matches_memory_store(redis_server: RedisServer, seed: int) -> None:
    rows, requests = make_rows(seed), make_requests(seed)
    store = RedisStore(redis_server.url, namespace=f"lookups-{uuid.uuid4().hex[:8]}")
    redis_reports: list[Any] = []
    memory_reports: list[Any] = []
    results = online(store, rows, requests, seed, redis_reports)
    assert results == online(fdag.MemoryStore(), rows, requests, seed, memory_reports)
    assert redis_reports == memory_reports and sum(r.duplicates for r in redis_reports) == 6
    check_against_oracle(results, rows, requests, watermarks_of(rows, online=True))


def test_engines_agree_on_generated_snapshots() -> None:
    fdag.check(DAG, examples=60)


def test_redis_lookup_is_one_round_trip_per_get_and_per_batch(redis_server: RedisServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import redis.connection

    store = RedisStore(redis_server.url, namespace=f"trips-{uuid.uuid4().hex[:8]}")
    row = fdag.RowDriver(DAG, ["balance_now", "balance_fresh", "tier_upper"], store=store)
    rows = make_rows(1)["accounts"]
    row.ingest("accounts", rows[:5])
    row.get({"account": 1}, ORIGIN)  # loads the query script
    sent: list[bytes] = []  # what the store writes to the server (one write per command or pipeline)
    real = redis.connection.AbstractConnection.send_packed_command

    def counted(connection: Any, command: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(b"".join(command) if isinstance(command, list) else command)
        return real(connection, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counted)
    row.get({"account": 1}, ORIGIN + timedelta(days=2))
    assert len(sent) == 1 and b"EVALSHA" in sent[0]  # three lookups at three lags: one script call
    row.ingest("accounts", rows[5:20])
    assert len(sent) == 2 and b"EVALSHA" in sent[1]
    assert row.ingest("accounts", rows[5:20]).duplicates == 15  # idempotent by id


def test_redis_lookup_is_exact_beyond_float_precision(redis_server: RedisServer) -> None:
    """Past 2**53 µs (the year 2255) Redis scores round; the query still reads exact timestamps."""
    far = datetime(2300, 1, 1, tzinfo=UTC)
    rows = [{"sku": "a", "at": far + k * TICK, "price": float(k)} for k in (0, 1, 2, 3, 5, 8)]
    store = RedisStore(redis_server.url, namespace=f"far-{uuid.uuid4().hex[:8]}")
    redis_row, memory_row = (fdag.RowDriver(DAG, ["price_recent"], store=s) for s in (store, fdag.MemoryStore()))
    for row in (redis_row, memory_row):
        row.ingest("prices", rows)
    for k in range(-1, 10):
        as_of = far + k * TICK
        got, want = redis_row.get({"sku": "a"}, as_of), memory_row.get({"sku": "a"}, as_of)
        assert (got.values, got.as_of) == (want.values, want.as_of)
        assert want["price_recent"] == max((float(j) for j in (0, 1, 2, 3, 5, 8) if j <= k), default=-1.0)


def test_backfill_keeps_old_rows_a_lookup_still_reads(tmp_path: Any) -> None:
    """A source read by a 10-day window and by lookups: the batch cut must not drop a key's last, old row."""
    from tests.resources import two_clocks

    frame = fdag.FrameDriver(fdag.Dag.from_modules(two_clocks))
    day = timedelta(days=1)
    ticks = [{"tick_id": i, "k": "quiet" if i % 10 == 0 else "busy", "ts": ORIGIN + i * day / 3, "seq": i,
              "tag": f"t{i}"} for i in range(90)]
    events = pl.DataFrame(ticks).filter((pl.col("k") == "busy") | (pl.col("ts") < ORIGIN + 5 * day))
    spine = pl.DataFrame({"k": ["busy", "quiet"] * 10,
                          "as_of": [ORIGIN + 20 * day + i * day / 2 for i in range(20)]})
    frame.backfill(spine, {"ticks": events}, tmp_path, progress=False)
    written = pl.read_parquet(tmp_path).sort("as_of", "k")
    whole = frame.run(spine, sources={"ticks": events}).sort("as_of", "k")
    assert written.select(whole.columns).equals(whole)
    assert whole.filter(pl.col("k") == "quiet")["latest_seq"].to_list() == [10] * 10  # 15+ days old, still read
