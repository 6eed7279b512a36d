"""RedisStore against a real redis-server: the same values as MemoryStore, shared across processes, durable."""

from __future__ import annotations

import math
import random
import re
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import fdag
from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._stores.memory import MemoryStore
from fdag._stores.protocol import IngestReport
from fdag._stores.redis import RedisStore
from fdag._values.instants import micros
from fdag._values.types import FType
from fdag.demo import fraud
from fdag.errors import MissingDependencyError, StoreError
from tests.conftest import ROOT
from tests.redis_server import RedisServer, free_port

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAG = fdag.Dag.from_modules(fraud)
REQUEST = {"amount": 40.0, "merchant": "m1"}


def make_events(seed: int, count: int, users: int = 6, minutes: float = 3 * 24 * 60) -> list[dict[str, Any]]:
    """Fraud transactions in time order, with null amounts and merchants, repeated amounts and equal timestamps."""
    rng = random.Random(seed)
    stamps = sorted(T0 + timedelta(minutes=rng.uniform(0, minutes)) for _ in range(count))
    events = []
    for i, ts in enumerate(stamps):
        if i and rng.random() < 0.05:
            ts = events[-1]["ts"]  # equal timestamps: ties are ordered by id
        events.append({"txn_id": f"t{rng.randrange(10**6):06d}-{i}", "user_id": f"u{rng.randrange(users)}", "ts": ts,
                       "amount": rng.choice([None, 5.0, 0.1, rng.uniform(0, 500), rng.uniform(-1, 1) * 1e6]),
                       "merchant": rng.choice([None, "m1", "m2", "m3", "m\u00e9"])})
    return events


def arrival(events: list[dict[str, Any]], seed: int, lateness: timedelta) -> list[dict[str, Any]]:
    """The events as a stream delivers them: shuffled within ``lateness``, with about 10% sent again."""
    rng = random.Random(seed)
    jittered = sorted(events, key=lambda e: e["ts"] + rng.random() * lateness)
    for _ in range(len(events) // 10):
        position = rng.randrange(len(jittered))
        jittered.insert(min(len(jittered), position + rng.randrange(1, 30)), jittered[position])
    return jittered


def drivers(url: str, outputs: list[str] | None = None) -> tuple[fdag.RowDriver, fdag.RowDriver]:
    """A RowDriver on a fresh Redis namespace and one on a MemoryStore."""
    store = RedisStore(url, namespace=f"test-{uuid.uuid4().hex[:8]}")
    return fdag.RowDriver(DAG, outputs, store=store), fdag.RowDriver(DAG, outputs, store=MemoryStore())


def state_of(row: fdag.RowDriver) -> Any:
    """The driver's window state of the transactions source (the fraud module has one)."""
    return row._states["transactions"][0]


def same(got: Any, want: Any) -> bool:
    """Equal, floats to 1e-9 relative: float sums depend on the held history their prefix sums start from
    (MemoryStore evicts lazily), and both stay within 1e-10 of the exact window value (``_window_aggs``)."""
    if isinstance(got, float) and isinstance(want, float):
        return math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-9) or got == want
    return type(got) is type(want) and got == want


def assert_same(redis_row: fdag.RowDriver, memory_row: fdag.RowDriver, users: int, instants: list[datetime]) -> None:
    """Every feature and as-of equal for every user at every instant (ints, strings and nulls exactly)."""
    for user in range(users + 1):  # one user never seen
        for as_of in instants:
            request = {**REQUEST, "user_id": f"u{user}"}
            got, want = redis_row.get(request, as_of), memory_row.get(request, as_of)
            assert got.values.keys() == want.values.keys()
            assert all(same(got[name], want[name]) for name in want.values), (user, as_of, got.values, want.values)
            assert got.as_of == want.as_of


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_values_as_memory_store(redis_server: RedisServer, seed: int) -> None:
    redis_row, memory_row = drivers(redis_server.url)
    rng = random.Random(seed)
    stream = arrival(make_events(seed, 600), seed, timedelta(minutes=12))  # a little beyond the 10m lateness
    position = 0
    while position < len(stream):
        batch = stream[position : position + rng.randrange(1, 120)]
        position += len(batch)
        assert redis_row.ingest("transactions", batch) == memory_row.ingest("transactions", batch)
        watermark = state_of(redis_row).watermark
        assert watermark == state_of(memory_row).watermark
        # Queries the contract covers: as_of at or after watermark - allowed_lateness.
        instants = [watermark + timedelta(minutes=rng.uniform(-10, 10)) for _ in range(2)]
        assert_same(redis_row, memory_row, 6, instants)


def test_pinned_values(redis_server: RedisServer) -> None:
    redis_row, _ = drivers(redis_server.url)
    minute = timedelta(minutes=1)
    redis_row.ingest("transactions", [
        {"txn_id": "a", "user_id": "u1", "ts": T0, "amount": 10.0, "merchant": "m1"},
        {"txn_id": "c", "user_id": "u1", "ts": T0 + 58 * minute, "amount": None, "merchant": "m2"},
        {"txn_id": "b", "user_id": "u1", "ts": T0 + 58 * minute, "amount": 30.0, "merchant": "m3"},
        {"txn_id": "d", "user_id": "u1", "ts": T0 + 60 * minute, "amount": 99.0, "merchant": "m4"},
        {"txn_id": "e", "user_id": "u2", "ts": T0 + 59 * minute, "amount": 7.0, "merchant": "m1"},
    ])
    vec = redis_row.get({**REQUEST, "user_id": "u1"}, T0 + 60 * minute)
    assert vec["spend_sum_1h"] == 40.0  # [T0, T0+60m): a, b; c's null is skipped, d is at as_of
    assert vec["spend_count_1h"] == 2
    assert vec["spend_count_5m"] == 1
    assert vec["spend_mean_10d"] == 20.0
    assert vec["merchants_1h"] == 3  # m1, m2, m3 (c's merchant counts though its amount is null)
    assert vec["last_merchant_10d"] == "m2"  # (ts, id) order: b before c at the same instant
    assert vec["largest_payment_10d"] == 30.0
    assert vec["burst_ratio"] == 0.5
    assert vec["amount_vs_mean_10d"] == 2.0
    assert vec.as_of["spend_sum_1h"] == T0 + 60 * minute
    empty = redis_row.get({**REQUEST, "user_id": "nobody"}, T0)
    assert (empty["spend_sum_1h"], empty["spend_count_10d"], empty["spend_mean_1h"]) == (0.0, 0, None)


def test_resending_a_batch_changes_nothing(redis_server: RedisServer) -> None:
    redis_row, memory_row = drivers(redis_server.url)
    events = make_events(4, 300)
    first = redis_row.ingest("transactions", events)
    assert first == memory_row.ingest("transactions", events)
    state = state_of(redis_row)
    sizes = [state.store.call("ZCARD", state._key_name(f"u{u}")) for u in range(6)]
    again = redis_row.ingest("transactions", events)
    assert again == IngestReport(0, 300, 0)
    assert [state.store.call("ZCARD", state._key_name(f"u{u}")) for u in range(6)] == sizes
    assert_same(redis_row, memory_row, 6, [events[-1]["ts"], events[-1]["ts"] + timedelta(hours=1)])


def test_bootstrap_then_stream_matches_memory(redis_server: RedisServer) -> None:
    redis_row, memory_row = drivers(redis_server.url)
    events = make_events(5, 900, minutes=30 * 24 * 60)  # longer than the 10d + 10m retention
    history, stream = pl.DataFrame(events[:700]), arrival(events[650:], 5, timedelta(minutes=5))
    assert redis_row.bootstrap("transactions", history) == memory_row.bootstrap("transactions", history)
    again = redis_row.bootstrap("transactions", history)
    assert again == memory_row.bootstrap("transactions", history) and again.accepted == 0
    for start in range(0, len(stream), 50):
        batch = stream[start : start + 50]
        assert redis_row.ingest("transactions", batch) == memory_row.ingest("transactions", batch)
    watermark = state_of(memory_row).watermark
    assert_same(redis_row, memory_row, 6, [watermark - timedelta(minutes=10), watermark + timedelta(days=2)])


def test_state_is_bounded_by_retention(redis_server: RedisServer) -> None:
    redis_row, _ = drivers(redis_server.url)
    events = make_events(6, 600, users=30, minutes=40 * 24 * 60)
    for start in range(0, len(events), 100):
        redis_row.ingest("transactions", events[start : start + 100])
    state = state_of(redis_row)
    horizon = micros(events[-1]["ts"] - timedelta(days=10, minutes=10))
    names = state.store.client.keys(state.prefix + "e:*")
    oldest = [state.store.client.zrange(name, 0, 0, withscores=True)[0][1] for name in names]
    assert oldest and min(oldest) >= horizon
    held_ids = state.store.call("ZCARD", state.prefix + "ids")
    assert held_ids == sum(state.store.call("ZCARD", name) for name in names) < len(events) / 2


@pytest.mark.parametrize("held", [False, True], ids=["new-keys", "held-keys"])
def test_a_batch_evicts_its_own_events_the_horizon_passes(redis_server: RedisServer, held: bool) -> None:
    """Events accepted early in a batch that its later events push below the horizon are evicted with the batch,
    from keys new in it (whose sets held nothing before) as from keys already held."""
    redis_row, _ = drivers(redis_server.url)
    users = [f"k{i}" for i in range(5)]
    if held:
        redis_row.ingest("transactions", [{"txn_id": f"h{i}", "user_id": user, "ts": T0 - timedelta(days=1),
                                           "amount": 1.0, "merchant": "m1"} for i, user in enumerate(users)])
    early = [{"txn_id": f"e{i}", "user_id": user, "ts": T0 + timedelta(minutes=i), "amount": 2.0, "merchant": "m2"}
             for i, user in enumerate(users)]
    later = [{**e, "txn_id": f"l{i}", "ts": T0 + timedelta(days=30, minutes=i)} for i, e in enumerate(early)]
    redis_row.ingest("transactions", [*early, *later])
    state = state_of(redis_row)
    for user in users:
        assert state.store.client.zcard(state._key_name(user)) == 1  # the later event alone
    assert state.store.call("ZCARD", state.prefix + "ids") == len(users)


def test_sources_without_ids_keep_arrival_order(redis_server: RedisServer) -> None:
    source = Source("clicks", key="user", timestamp="ts", schema={"user": int, "ts": datetime, "page": str})

    def page(page: str) -> str:
        return page

    specs = []
    for text in ("last", "count", "last_n(3)"):
        agg = parse_aggregation(text)
        specs.append(WindowSpec(f"page_{agg.label}", source, page, ("page",), FType(str), agg, timedelta(hours=1),
                                "1h", "left", None, agg.result_type(FType(str))))
    values = {"__value__page": lambda e: e["page"]}
    redis_state = RedisStore(redis_server.url, namespace=uuid.uuid4().hex).window_state(source, specs, values)
    memory_state = MemoryStore().window_state(source, specs, values)
    events = [{"user": 1, "ts": T0, "page": p} for p in "abca"]
    for state in (redis_state, memory_state):
        state.ingest(events[:2])
        state.ingest(events[2:])
        state.ingest(events[:1])  # no id: the same event again is a new event
    assert redis_state.query(1, T0 + timedelta(minutes=1)) == memory_state.query(1, T0 + timedelta(minutes=1))


CHILD = """
import sys
import polars as pl
import fdag
from fdag._values.instants import micros
from fdag._stores.redis import RedisStore
from fdag.errors import StoreError
from fdag.demo import fraud

url, namespace, path, start, stop, size = sys.argv[1:7]
row = fdag.RowDriver(fdag.Dag.from_modules(fraud), store=RedisStore(url, namespace=namespace))
events = pl.read_parquet(path).slice(int(start), int(stop) - int(start))
for first in range(0, events.height, int(size)):
    try:
        row.ingest("transactions", events.slice(first, int(size)))
    except StoreError as exc:
        print("failed", first, exc, flush=True)
        break
    print("acked", first, flush=True)
"""

READER = """
import sys, json
from datetime import datetime
import fdag
from fdag._values.instants import micros
from fdag._stores.redis import RedisStore
from fdag.demo import fraud

url, namespace, as_of = sys.argv[1:4]
row = fdag.RowDriver(fdag.Dag.from_modules(fraud), store=RedisStore(url, namespace=namespace))
vectors = [row.get({"user_id": f"u{u}", "amount": 40.0, "merchant": "m1"}, datetime.fromisoformat(as_of)).values
           for u in range(7)]
print(json.dumps(vectors))
"""


def python(code: str, *args: Any) -> subprocess.Popen[str]:
    """A separate Python process running ``code`` with ``args``, from the repository root."""
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={"PYTHONPATH": str(ROOT)})


def test_processes_share_state(redis_server: RedisServer, tmp_path: Path) -> None:
    import json

    events = make_events(7, 2_000)
    path = tmp_path / "events.parquet"
    pl.DataFrame(events).write_parquet(path)
    namespace = uuid.uuid4().hex
    writers = [python(CHILD, redis_server.url, namespace, path, a, b, 250) for a, b in ((0, 1_000), (1_000, 2_000))]
    for writer in writers:
        out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0 and "failed" not in out, err
    as_of = events[-1]["ts"] + timedelta(minutes=3)
    reader = python(READER, redis_server.url, namespace, as_of.isoformat())
    out, err = reader.communicate(timeout=60)
    assert reader.returncode == 0, err
    memory_row = fdag.RowDriver(DAG, store=MemoryStore())
    memory_row.ingest("transactions", events)
    want = [memory_row.get({**REQUEST, "user_id": f"u{u}"}, as_of).values for u in range(7)]
    assert json.loads(out) == json.loads(json.dumps(want))


def test_acknowledged_events_survive_kill_9(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "data").start()
    try:
        events = make_events(8, 6_000, users=4, minutes=5 * 24 * 60)
        path = tmp_path / "events.parquet"
        pl.DataFrame(events).write_parquet(path)
        namespace, size = "durable", 100
        writer = python(CHILD, server.url, namespace, path, 0, len(events), size)
        acked = -1
        assert writer.stdout is not None
        for line in writer.stdout:
            if line.startswith("acked"):
                acked = int(line.split()[1])
                if acked >= 5 * size:
                    server.kill()
                    break
        writer.communicate(timeout=60)
        assert 0 <= acked < len(events) - size, "the writer finished before the kill"
        server.start()
        # The same outputs as the writer: drivers share state when they store the same per-event values.
        redis_row = fdag.RowDriver(DAG, store=RedisStore(server.url, namespace))
        as_of = events[-1]["ts"] + timedelta(microseconds=1)
        requests = [{**REQUEST, "user_id": f"u{u}"} for u in range(4)]
        held = sum(vec["spend_count_10d"] for vec in redis_row.get_many(requests, as_of))
        amounts = [e["amount"] is not None for e in events]
        # The in-flight batch is all there or not at all.
        assert held in (sum(amounts[: acked + size]), sum(amounts[: acked + 2 * size]))
        for start in range(acked, len(events), 1_000):  # re-send from the last acknowledged batch
            redis_row.ingest("transactions", events[start : start + 1_000])
        memory_row = fdag.RowDriver(DAG, store=MemoryStore())
        memory_row.ingest("transactions", events)
        got = [vec.values for vec in redis_row.get_many(requests, as_of)]
        want = [vec.values for vec in memory_row.get_many(requests, as_of)]
        assert [(v["spend_count_10d"], v["spend_sum_10d"]) for v in got] == [
            (v["spend_count_10d"], v["spend_sum_10d"]) for v in want]
        assert sum(v["spend_count_10d"] for v in got) == sum(amounts)
    finally:
        server.stop()


def test_unreachable_server() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    message = rf"^Redis at {url} cannot be reached\. Hint: start redis-server there or fix the url"
    with pytest.raises(StoreError, match=message):
        RedisStore(url)
    with pytest.raises(StoreError, match=r"url 'http://x' is not a Redis url .* Hint: write it like 'redis://"):
        RedisStore("http://x")


def test_server_gone_after_start(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "gone").start()
    row = fdag.RowDriver(DAG, ["spend_sum_1h"], store=RedisStore(server.url, namespace="gone"))
    server.stop()
    with pytest.raises(StoreError, match=rf"Redis at {server.url} cannot be reached\. .*re-send the batch that failed"):
        row.ingest("transactions", make_events(9, 3))


def test_missing_redis_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(MissingDependencyError, match=r"^RedisStore needs the 'redis' package, which is not installed\. "
                                                     r"Hint: pip install 'fdag\[redis\]'"):
        RedisStore()


def test_a_dropped_connection_is_retried(redis_server: RedisServer) -> None:
    import redis

    redis_row, memory_row = drivers(redis_server.url)
    events = make_events(10, 40)
    other = redis.Redis.from_url(redis_server.url)
    for batch in (events[:20], events[20:]):
        assert other.client_kill_filter(_type="normal", skipme=True) >= 1  # every connection of the store
        assert redis_row.ingest("transactions", batch) == memory_row.ingest("transactions", batch)
    other.client_kill_filter(_type="normal", skipme=True)
    assert_same(redis_row, memory_row, 6, [events[-1]["ts"]])


@pytest.mark.parametrize("with_ids", [True, False], ids=["ids", "no-ids"])
def test_a_batch_whose_reply_is_lost_is_applied_once(redis_server: RedisServer, with_ids: bool,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The server runs the ingest script but its reply is lost: re-sent only where that is idempotent."""
    import redis.connection

    source = Source("clicks", key="user", timestamp="ts", id="click" if with_ids else None,
                    schema={"click": str, "user": int, "ts": datetime, "page": str})

    def page(page: str) -> str:
        return page

    agg = parse_aggregation("count")
    spec = WindowSpec("pages_1h", source, page, ("page",), FType(str), agg, timedelta(hours=1), "1h", "left", None,
                      agg.result_type(FType(str)))
    values = {"__value__page": lambda e: e["page"]}
    state = RedisStore(redis_server.url, namespace=uuid.uuid4().hex).window_state(source, [spec], values)
    state.ingest([{"click": "a", "user": 1, "ts": T0, "page": "a"}])  # connects and loads the script
    read = redis.connection.AbstractConnection.read_response
    lost: list[object] = []

    def lose_first_reply(connection: Any, *args: Any, **kwargs: Any) -> Any:
        reply = read(connection, *args, **kwargs)  # the server has run the script
        if not lost:
            lost.append(reply)
            raise redis.exceptions.TimeoutError("the reply was lost")
        return reply

    monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", lose_first_reply)
    event = {"click": "b", "user": 1, "ts": T0, "page": "b"}
    if with_ids:
        assert state.ingest([event]) == IngestReport(0, 1, 0)  # re-sent: the first run had applied it
    else:
        with pytest.raises(StoreError, match="cannot be reached"):
            state.ingest([event])
    assert lost == [[1, 0, 0]]
    assert state.query(1, T0 + timedelta(minutes=1))[0] == [2]  # a and b, each once


def dump(store: RedisStore) -> dict[str, Any]:
    """Everything a store's namespace holds, with the namespace cut from key names (to compare two namespaces)."""
    client, cut = store.client, store.namespace.encode()
    out: dict[str, Any] = {}
    for name in client.scan_iter(match=store.namespace + ":*"):
        kind = client.type(name)
        if kind == b"zset":
            value: Any = [(m.replace(cut, b"NS", 1), s) for m, s in client.zrange(name, 0, -1, withscores=True)]
        elif kind == b"hash":
            value = client.hgetall(name)
        elif kind == b"list":  # (another program's key, in a test of keys in the way)
            value = client.lrange(name, 0, -1)
        else:
            value = client.get(name)
        out[name.replace(cut, b"NS", 1).decode()] = value
    return out


def failure_case() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A held prelude and a batch that re-sends some of it, repeats ids within itself, arrives a little late and
    moves the watermark past the retention of older keys (evictions, quiet keys deleted)."""
    events = make_events(12, 260, users=8, minutes=25 * 24 * 60)
    prelude = [*events[:120], {**events[60], "txn_id": "quiet", "user_id": "gone"}]
    late = {**events[0], "txn_id": "late"}
    batch = [*arrival(events[100:], 12, timedelta(minutes=15)), {**events[130], "amount": -1.0}, late]
    return prelude, batch


def clean_ingest(url: str, prelude: list[dict[str, Any]], batch: list[dict[str, Any]]) -> dict[str, Any]:
    """The state after ingesting ``prelude`` then ``batch`` with nothing failing."""
    store = RedisStore(url, namespace=f"clean-{uuid.uuid4().hex[:8]}")
    row = fdag.RowDriver(DAG, store=store)
    row.ingest("transactions", prelude)
    row.ingest("transactions", batch)
    return dump(store)


def roles_case() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A prelude giving a hot key tiles and a sparse key a few events, and a batch for both and a new key."""
    def events(user: str, start: datetime, count: int, step: timedelta) -> list[dict[str, Any]]:
        return [{"txn_id": f"{user}-{start:%H%M}-{i}", "user_id": user, "ts": start + i * step, "amount": 1.0 + i,
                 "merchant": "m1"} for i in range(count)]

    prelude = sorted(events("hot", T0, 600, timedelta(minutes=1)) + events("sparse", T0, 3, timedelta(hours=1)),
                     key=lambda e: e["ts"])
    later = T0 + timedelta(hours=10, seconds=30)
    batch = [*events("hot", later, 5, timedelta(seconds=1)), *events("sparse", later, 2, timedelta(seconds=1)),
             *events("new", later, 2, timedelta(seconds=1))]
    return prelude, batch


def clean_then_cleared(store: RedisStore, prelude: list[dict[str, Any]], batch: list[dict[str, Any]]) -> dict[str, Any]:
    """``clean_ingest`` in ``store``'s own namespace (a key's tiles start at a phase drawn from its name), which
    is then emptied for the case under test."""
    row = fdag.RowDriver(DAG, store=store)
    row.ingest("transactions", prelude)
    row.ingest("transactions", batch)
    want = dump(store)
    store.client.delete(*store.client.scan_iter(match=store.namespace + ":*"))
    return want


@pytest.mark.parametrize("role", ["wm", "ids", "keys", "seq", "bounds", "open", "e:hot", "e:sparse", "e:new", "t:hot",
                                  "i:hot"])
def test_a_foreign_key_in_any_role_fails_the_batch_before_its_first_write(redis_server: RedisServer,
                                                                          role: str) -> None:
    """Whichever key of the layout the batch would read or write holds another type (the events set of a key
    with tiles or without, or of a new key; the tiles of a key whose set is dense), the script fails before its
    first write; once the key is back, the batch applies as on a clean state."""
    prelude, batch = roles_case()
    store = RedisStore(redis_server.url, namespace=f"t-{uuid.uuid4().hex[:8]}")
    want = clean_then_cleared(store, prelude, batch)
    row = fdag.RowDriver(DAG, store=store)
    row.ingest("transactions", prelude)
    name = state_of(row).prefix + role
    assert store.client.exists(state_of(row).prefix + "t:hot")
    saved = store.client.dump(name)
    store.client.delete(name)
    store.client.rpush(name, "in the way")
    before = dump(store)
    with pytest.raises(StoreError, match=rf"WRONGTYPE key {re.escape(name)} holds a list, not a .*Hint: "):
        row.ingest("transactions", batch)
    assert dump(store) == before
    store.client.delete(name)
    if saved is not None:
        store.client.restore(name, 0, saved)
    row.ingest("transactions", batch)
    assert dump(store) == want


@pytest.mark.parametrize("role", ["t:sparse", "i:sparse", "t:new", "i:new"])
def test_the_tile_keys_of_a_sparse_key_are_left_alone(redis_server: RedisServer, role: str) -> None:
    """A key whose events set and batch hold fewer than ``DENSE`` events has no tiles and gets none: its tile
    keys are neither checked nor written, whatever another program keeps there."""
    prelude, batch = roles_case()
    store = RedisStore(redis_server.url, namespace=f"t-{uuid.uuid4().hex[:8]}")
    want = clean_then_cleared(store, prelude, batch)
    row = fdag.RowDriver(DAG, store=store)
    row.ingest("transactions", prelude)
    name = state_of(row).prefix + role
    store.client.rpush(name, "in the way")
    row.ingest("transactions", batch)
    assert store.client.lrange(name, 0, -1) == [b"in the way"]
    assert not [key for key in want if key.endswith((":t:sparse", ":i:sparse", ":t:new", ":i:new"))]
    held = dump(store)
    del held[name.replace(store.namespace, "NS", 1)]
    assert held == want


_WRITES = ("ZADD", "SET", "HSET", "HDEL", "ZREMRANGEBYSCORE", "DEL", "ZREM", "INCRBY")


def failing_after(writes: int) -> str:
    """The ingest script, made to fail at its ``writes + 1``-th write command (the earlier ones stay done)."""
    import fdag._stores.redis_scripts as redis_scripts

    prefix = (
        "local real, done = redis, 0\n"
        "local redis = setmetatable({call = function(command, ...)\n"
        f"  if ({' or '.join(f'command == {c!r}' for c in _WRITES)}) then\n"
        f"    if done == {writes} then error('injected failure') end\n"
        "    done = done + 1\n"
        "  end\n"
        "  return real.call(command, ...)\n"
        "end}, {__index = real})\n"
    )
    return prefix + redis_scripts.INGEST


@pytest.mark.parametrize("first", [False, True], ids=["held-prelude", "first-batch"])
def test_a_script_failing_after_any_write_is_repaired_by_resending(redis_server: RedisServer,
                                                                 monkeypatch: pytest.MonkeyPatch,
                                                                 first: bool) -> None:
    """Redis does not roll a script back: whichever write fails, re-sending the batch gives the clean state
    (``first``: the batch is the state's first, so it also sets the oldest accepted timestamp in ``bounds``)."""
    import fdag._stores.redis_scripts as redis_scripts

    prelude, batch = failure_case()
    if first:
        prelude = []
    want = clean_ingest(redis_server.url, prelude, batch)
    script = redis_scripts.INGEST
    for writes in range(1000):
        namespace = f"t-{uuid.uuid4().hex[:8]}"
        row = fdag.RowDriver(DAG, store=RedisStore(redis_server.url, namespace=namespace))
        row.ingest("transactions", prelude)
        monkeypatch.setattr(redis_scripts, "INGEST", failing_after(writes))
        failing = fdag.RowDriver(DAG, store=RedisStore(redis_server.url, namespace=namespace))
        try:
            failing.ingest("transactions", batch)
        except StoreError as exc:
            assert "injected failure" in str(exc)
        else:
            break  # the script has fewer writes: every failure point is covered
        finally:
            monkeypatch.setattr(redis_scripts, "INGEST", script)
        store = RedisStore(redis_server.url, namespace=namespace)
        fdag.RowDriver(DAG, store=store).ingest("transactions", batch)
        assert dump(store) == want, f"failing after {writes} writes"
    assert writes > 10


def test_out_of_memory_writes_nothing(redis_server: RedisServer) -> None:
    prelude, batch = failure_case()
    store = RedisStore(redis_server.url, namespace=f"t-{uuid.uuid4().hex[:8]}")
    row = fdag.RowDriver(DAG, store=store)
    row.ingest("transactions", prelude)
    before = dump(store)
    store.client.config_set("maxmemory-policy", "noeviction")
    store.client.config_set("maxmemory", 1)
    try:
        with pytest.raises(StoreError, match=r"command not allowed when used memory > 'maxmemory'.*Hint: check the "
                           r"server's log, memory limit \(maxmemory\)"):
            row.ingest("transactions", batch)
    finally:
        store.client.config_set("maxmemory", 0)
    assert dump(store) == before
    row.ingest("transactions", batch)
    assert dump(store) == clean_ingest(redis_server.url, prelude, batch)
