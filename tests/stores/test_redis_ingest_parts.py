"""A large ingest batch goes to Redis as several script calls, each sent while the next is prepared: the same
outcome as one call, one round trip, and a connection that stays in step whatever fails."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis
import redis.connection

import fdag
from fdag._aggregations.registry import parse_aggregation
from fdag._dag.specs import WindowSpec
from fdag._declare.source import Source
from fdag._stores import redis_events
from fdag._stores.memory import MemoryStore
from fdag._stores.protocol import IngestReport
from fdag._stores.redis import RedisStore
from fdag._values.types import FType
from fdag.errors import StoreError
from tests.redis_server import RedisServer
from tests.stores.test_redis_store import DAG, T0, arrival, assert_same, make_events, state_of

COUNTER = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@pytest.fixture(autouse=True)
def split_whatever_the_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests' batches have few keys: let them be split all the same (the rule has its own test)."""
    monkeypatch.setattr(redis_events, "_EVENTS_PER_KEY", 10**9)


def script_calls(client: redis.Redis) -> int:
    """How many EVAL and EVALSHA calls the server has run (``INFO commandstats``)."""
    stats = client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("eval", "evalsha"))


def clicks(with_ids: bool) -> tuple[Source, list[WindowSpec], dict[str, Any]]:
    """A click source (with or without ids; events beyond 1h ahead of the clock not applied) and the count and
    last three of its pages over 1h."""
    source = Source("clicks", key="user", timestamp="ts", id="click" if with_ids else None, max_future="1h",
                    schema={"click": str, "user": int, "ts": datetime, "page": str})

    def page(page: str) -> str:
        return page

    specs = []
    for text in ("count", "last_n(3)"):
        agg = parse_aggregation(text)
        specs.append(WindowSpec(f"pages_{agg.label}", source, page, ("page",), FType(str), agg, timedelta(hours=1),
                                "1h", "left", None, agg.result_type(FType(str))))
    return source, specs, {"__value__page": lambda e: e["page"]}


@pytest.mark.parametrize("part", [1, 7, 40])
def test_a_batch_in_parts_equals_memory_store(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch,
                                              part: int) -> None:
    """Duplicates (within a part, across parts, already held) and late events in a stream of large batches."""
    monkeypatch.setattr(redis_events, "_PART", part)
    store = RedisStore(redis_server.url, namespace=f"parts-{uuid.uuid4().hex[:8]}")
    redis_row, memory_row = fdag.RowDriver(DAG, store=store), fdag.RowDriver(DAG, store=MemoryStore())
    rng = random.Random(part)
    stream = arrival(make_events(part, 900), part, timedelta(minutes=12))  # a little beyond the 10m lateness
    position, calls, parts = 0, script_calls(store.client), 0
    while position < len(stream):
        batch = stream[position : position + rng.randrange(80, 300)]
        position, parts = position + len(batch), parts + max(1, len(batch) // part)
        assert redis_row.ingest("transactions", batch) == memory_row.ingest("transactions", batch)
        assert state_of(redis_row).watermark == state_of(memory_row).watermark
    assert script_calls(store.client) - calls == parts
    watermark = state_of(memory_row).watermark
    assert watermark is not None
    assert_same(redis_row, memory_row, 6, [watermark - timedelta(minutes=9), watermark + timedelta(hours=2)])
    again = redis_row.ingest("transactions", stream[:200])
    assert again == memory_row.ingest("transactions", stream[:200]) and again.accepted == 0


def test_a_copy_of_an_id_the_batch_moves_below_the_horizon_is_still_a_duplicate(
        redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first part moves the horizon past a held event; its copy in the second part is a duplicate, as in one
    call (the ids below the horizon are forgotten after the last part), not too late."""
    monkeypatch.setattr(redis_events, "_PART", 2)
    source, specs, values = clicks(with_ids=True)
    redis_state = RedisStore(redis_server.url, namespace=uuid.uuid4().hex).window_state(source, specs, values)
    memory_state = MemoryStore().window_state(source, specs, values)
    held = {"click": "x", "user": 1, "ts": T0, "page": "a"}
    later = T0 + timedelta(hours=3)
    batch = [{"click": "c1", "user": 2, "ts": later, "page": "b"},
             {"click": "c2", "user": 2, "ts": later + timedelta(seconds=1), "page": "b"},
             held, {"click": "c3", "user": 1, "ts": later + timedelta(seconds=2), "page": "c"}]
    for state in (redis_state, memory_state):
        assert state.ingest([held]) == IngestReport(1, 0, 0)
        assert state.ingest(batch) == IngestReport(3, 1, 0)
    again = {"click": "x", "user": 1, "ts": T0, "page": "a"}  # after the batch: forgotten, too late
    assert redis_state.ingest([again]) == memory_state.ingest([again]) == IngestReport(0, 0, 1)


def test_a_batch_below_twice_the_part_size_is_one_call(redis_server: RedisServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_events, "_PART", 10)
    store = RedisStore(redis_server.url, namespace=f"parts-{uuid.uuid4().hex[:8]}")
    row = fdag.RowDriver(DAG, store=store)
    events = make_events(3, 60)
    for size, calls in ((19, 1), (20, 2), (39, 3), (60, 6)):
        before = script_calls(store.client)
        row.ingest("transactions", events[:size])
        assert script_calls(store.client) - before == calls, size


def test_a_batch_whose_keys_repeat_is_one_call(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """More than two events per key on average (dense keys): one call, since each part would pay each key's work
    again; fewer: parts."""
    monkeypatch.setattr(redis_events, "_PART", 10)
    monkeypatch.setattr(redis_events, "_EVENTS_PER_KEY", 2)
    source, specs, values = clicks(with_ids=True)
    store = RedisStore(redis_server.url, namespace=f"parts-{uuid.uuid4().hex[:8]}")
    state = store.window_state(source, specs, values)
    state.ingest([{"click": "first", "user": 0, "ts": T0, "page": "p"}])  # loads the script
    for users, calls in ((4, 1), (19, 1), (20, 4), (40, 4)):  # 40 events on so many users
        events = [{"click": f"{users}-{i}", "user": i % users, "ts": T0 + timedelta(seconds=i), "page": "p"}
                  for i in range(40)]
        before = script_calls(store.client)
        assert state.ingest(events).accepted == 40
        assert script_calls(store.client) - before == calls, users


def test_sources_without_ids_keep_arrival_order_across_parts(redis_server: RedisServer,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_events, "_PART", 2)
    source, specs, values = clicks(with_ids=False)
    redis_state = RedisStore(redis_server.url, namespace=uuid.uuid4().hex).window_state(source, specs, values)
    memory_state = MemoryStore().window_state(source, specs, values)
    events = [{"user": 1, "ts": T0 + timedelta(seconds=i // 3), "page": p} for i, p in enumerate("abcabcaab")]
    for state in (redis_state, memory_state):
        state.ingest(events)
        state.ingest(events[:4])  # no id: the same events again are new events
    as_of = T0 + timedelta(minutes=1)
    assert redis_state.query(1, as_of) == memory_state.query(1, as_of) == ([13, ["a", "a", "b"]], T0 + timedelta(
        seconds=2))


def test_future_events_are_counted_per_part_and_a_part_of_them_alone_is_not_sent(
        redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_events, "_PART", 2)
    source, specs, values = clicks(with_ids=True)
    store = RedisStore(redis_server.url, namespace=uuid.uuid4().hex)
    redis_state = store.window_state(source, specs, values)
    memory_state = MemoryStore().window_state(source, specs, values)
    ahead = datetime.now(T0.tzinfo) + timedelta(days=400)
    events = [{"click": f"c{i}", "user": 1, "ts": ahead if i in (2, 3, 6) else T0 + timedelta(seconds=i),
               "page": "p"} for i in range(8)]  # parts of 2: the second is all future
    before = script_calls(store.client)
    report = redis_state.ingest(events)
    assert report == memory_state.ingest(events) == IngestReport(5, 0, 0, 3)
    assert script_calls(store.client) - before == 3
    as_of = T0 + timedelta(minutes=1)
    assert redis_state.query(1, as_of) == memory_state.query(1, as_of)


def lose_reply(monkeypatch: pytest.MonkeyPatch, which: int) -> list[object]:
    """Make the ``which``-th reply read from now on (0 first) be lost once, after the server ran its command."""
    read = redis.connection.AbstractConnection.read_response
    seen: list[object] = []

    def lossy(connection: Any, *args: Any, **kwargs: Any) -> Any:
        reply = read(connection, *args, **kwargs)
        seen.append(reply)
        if len(seen) == which + 1:
            raise redis.exceptions.TimeoutError("the reply was lost")
        return reply

    monkeypatch.setattr(redis.connection.AbstractConnection, "read_response", lossy)
    return seen


@pytest.mark.parametrize("with_ids", [True, False], ids=["ids", "no-ids"])
def test_a_lost_reply_of_one_part_resends_the_batch_only_with_ids(redis_server: RedisServer, with_ids: bool,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis_events, "_PART", 3)
    source, specs, values = clicks(with_ids)
    state = RedisStore(redis_server.url, namespace=uuid.uuid4().hex).window_state(source, specs, values)
    state.ingest([{"click": "first", "user": 1, "ts": T0, "page": "a"}])  # connects and loads the script
    events = [{"click": f"c{i}", "user": i % 2, "ts": T0 + timedelta(seconds=i), "page": "p"} for i in range(10)]
    seen = lose_reply(monkeypatch, which=1)  # the second part's: all three parts have run
    if with_ids:
        assert state.ingest(events) == IngestReport(0, 10, 0)  # re-sent in full: every part had been applied
        assert seen[:2] == [[3, 0, 0], [3, 0, 0]]  # (the third part's reply went with the dropped connection)
    else:
        with pytest.raises(StoreError, match="cannot be reached"):
            state.ingest(events)
    monkeypatch.undo()
    as_of = T0 + timedelta(minutes=1)
    assert [state.query(user, as_of)[0][0] for user in (0, 1)] == [5, 6]  # each event once ("first" is user 1's)


def counter_calls(key: str, amounts: Sequence[int]) -> Iterator[tuple[list[str], list[int]]]:
    """``COUNTER``'s calls adding each of ``amounts`` to ``key``."""
    for amount in amounts:
        yield [key], [amount]


def test_replies_come_back_in_order(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, namespace=uuid.uuid4().hex)
    key = f"{store.namespace}:n"
    assert store.stream_scripts("counter", COUNTER, counter_calls(key, [1, 2, 3, 4])) == [1, 3, 6, 10]
    assert store.stream_scripts("counter", COUNTER, counter_calls(key, [])) == []


def test_an_error_reply_keeps_the_connection_in_step(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, namespace=uuid.uuid4().hex)
    key, other = f"{store.namespace}:n", f"{store.namespace}:list"
    store.call("RPUSH", other, "x")

    def calls() -> Iterator[tuple[list[str], list[int]]]:
        yield [key], [1]
        yield [other], [5]  # WRONGTYPE: this call fails, the ones around it run
        yield [key], [2]

    with pytest.raises(StoreError, match="WRONGTYPE"):
        store.stream_scripts("counter", COUNTER, calls())
    assert store.call("GET", key) == b"3"  # the next reply is this command's, not a leftover
    assert store.call("PING") is True


def test_a_failing_producer_lets_the_sent_calls_finish(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, namespace=uuid.uuid4().hex)
    key = f"{store.namespace}:n"

    def calls() -> Iterator[tuple[list[str], list[int]]]:
        yield [key], [1]
        yield [key], [2]
        raise ValueError("the caller failed while making the third call")

    with pytest.raises(ValueError, match="third call"):
        store.stream_scripts("counter", COUNTER, calls())
    assert store.call("GET", key) == b"3"
    assert store.stream_scripts("counter", COUNTER, counter_calls(key, [4])) == [7]


def test_a_lost_reply_resends_every_call_made(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RedisStore(redis_server.url, namespace=uuid.uuid4().hex)
    key = f"{store.namespace}:n"
    store.call("PING")
    store.call("PING", retry=False)  # both connections made: the replies counted are the scripts'
    lose_reply(monkeypatch, which=1)
    assert store.stream_scripts("counter", COUNTER, counter_calls(key, [1, 10, 100])) == [112, 122, 222]
    monkeypatch.undo()
    with pytest.raises(StoreError, match="cannot be reached"):
        lose_reply(monkeypatch, which=0)
        store.stream_scripts("counter", COUNTER, counter_calls(key, [1000]), retry=False)
    monkeypatch.undo()
    assert store.call("GET", key) == b"1222"  # the first attempt ran, the re-sent one too; the one without retry ran


def test_a_call_whose_sending_fails_is_sent_again(redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    store = RedisStore(redis_server.url, namespace=uuid.uuid4().hex)
    key = f"{store.namespace}:n"
    store.call("PING")
    send = redis.connection.AbstractConnection.send_command
    sent: list[object] = []

    def fails_once(connection: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(args[0])
        if len(sent) == 2:  # the second call: the connection drops before it is written
            raise redis.exceptions.ConnectionError("the connection dropped")
        return send(connection, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_command", fails_once)
    # the first ran before the drop and again with the re-sent ones: 1, then 1 + 1, 2 + 2, 4 + 3
    assert store.stream_scripts("counter", COUNTER, counter_calls(key, [1, 2, 3])) == [2, 4, 7]


def test_a_flushed_script_cache_is_loaded_by_the_first_call(redis_server: RedisServer) -> None:
    store = RedisStore(redis_server.url, namespace=uuid.uuid4().hex)
    key = f"{store.namespace}:n"
    assert store.stream_scripts("counter", COUNTER, counter_calls(key, [1, 1])) == [1, 2]
    store.call("SCRIPT", "FLUSH")
    assert store.stream_scripts("counter", COUNTER, counter_calls(key, [1, 1, 1])) == [3, 4, 5]
