"""Stream workers on both logs (in process and a real Redis Stream): delivery, handoff, dead letters, claims.

Each test runs once per log; with the Redis log the window state is a RedisStore on the same server.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

import fdag
from fdag._streams.log import REASON_FIELD
from fdag._streams.worker import StreamWorker
from tests.redis_server import RedisServer
from tests.stream_events import (
    DAG,
    SOURCE,
    SPAN,
    T0,
    assert_matches_frame,
    frame_of,
    make_payments,
    spine,
    unique,
    with_resends_and_late,
)

Backend = tuple[Callable[..., Any], Callable[[], Any]]  # (make a log, make a store)


@pytest.fixture(params=["memory", "redis"])
def backend(request: pytest.FixtureRequest, redis_server: RedisServer) -> Iterator[Backend]:
    """``(make_log, make_store)``: fresh stream and state per call, in process or in the test's redis-server."""
    tag = uuid.uuid4().hex[:8]
    if request.param == "memory":
        yield (lambda source=SOURCE: fdag.MemoryStream(f"payments-{tag}", source=source)), fdag.MemoryStore
    else:
        yield ((lambda source=SOURCE: fdag.RedisStream(redis_server.url, f"payments-{tag}", source=source)),
               lambda: fdag.RedisStore(redis_server.url, namespace=f"ns-{tag}"))


def drain(worker: Any, total: int) -> Any:
    """Run ``worker`` until it has read ``total`` entries (or 30 s pass)."""
    deadline = time.monotonic() + 30
    while worker.stats.read < total and time.monotonic() < deadline:
        worker.run(max_events=total - worker.stats.read, timeout=1.0)
    return worker.stats


def test_a_worker_applies_every_event_once_with_resends_and_late_events(backend: Backend) -> None:
    make_log, make_store = backend
    events = make_payments(3_000, cards=30, seed=1)
    stream = with_resends_and_late(events, seed=2, late=50)
    log = make_log()
    ids = log.publish(stream)
    row = fdag.RowDriver(DAG, store=make_store())
    worker = row.consume("payments", log, group="features", consumer="w1", batch=250)
    assert worker.stats.lag == len(stream)
    stats = drain(worker, len(stream))
    assert stats.read == len(stream) and stats.last_id == ids[-1]
    assert stats.duplicates == len(stream) - len(unique(stream)) and stats.too_late == 50
    assert stats.applied == len(events) and stats.dead_lettered == 0
    assert (stats.pending, stats.lag, stats.lag_seconds) == (0, 0, 0.0)
    assert_matches_frame(row, unique(stream), spine(30, T0 + SPAN))


def test_workers_of_one_group_share_the_stream(backend: Backend) -> None:
    make_log, make_store = backend
    events = make_payments(2_000, cards=20, seed=3)
    log = make_log()
    log.publish(events)
    row = fdag.RowDriver(DAG, store=make_store())
    workers = [row.consume("payments", log, group="g", consumer=f"w{i}", batch=100) for i in range(2)]
    for _ in range(10):  # take turns, a batch at a time
        for worker in workers:
            worker.run(max_events=100)
    first, second = (worker.stats for worker in workers)
    assert first.read == second.read == 1_000 and first.applied + second.applied == 2_000
    assert first.duplicates == second.duplicates == 0
    assert_matches_frame(row, events, spine(20, T0 + SPAN))


def test_bootstrap_then_stream_loses_nothing_and_counts_nothing_twice(backend: Backend) -> None:
    make_log, make_store = backend
    events = make_payments(4_000, cards=25, seed=4)
    by_time = sorted(events, key=lambda e: e["ts"])
    history = frame_of(by_time[:2_500])  # the history reaches 600 events into the stream's retained part
    log = make_log()
    log.publish(by_time[1_900:])
    row = fdag.RowDriver(DAG, store=make_store())
    report = row.bootstrap("payments", history)
    assert report.accepted == 2_500
    stats = drain(row.consume("payments", log, group="features", consumer="w1"), 2_100)
    assert (stats.applied, stats.duplicates, stats.too_late) == (1_500, 600, 0)
    assert_matches_frame(row, events, spine(25, T0 + SPAN))


def test_malformed_entries_go_to_the_dead_letters_and_the_worker_goes_on(backend: Backend) -> None:
    make_log, make_store = backend
    events = make_payments(600, cards=10, seed=5)
    log = make_log()
    good = {"payment_id": '"x"', "card": '"c1"', "ts": "1714521600000000", "amount": "1.5", "items": "1",
            "merchant": '"m1"', "flagged": "null"}
    broken = {
        "not JSON": {**good, "amount": "12,5"},
        "not JSON either": {**good, "merchant": "m1"},
        "a str in a float column": {**good, "amount": '"twelve"'},
        "a float in an int column": {**good, "items": "1.5"},
        "no key": {k: v for k, v in good.items() if k != "card"},
        "no timestamp": {k: v for k, v in good.items() if k != "ts"},
        "a null key": {**good, "card": "null"},
        "an instant out of range": {**good, "ts": "9" * 30},
        "a timestamp as text": {**good, "ts": '"2024-05-01T00:00:00"'},
        "someone else's entry": {"event": "signup", "user": "u1"},
    }
    columns = {"not JSON": "amount", "not JSON either": "merchant", "a str in a float column": "amount",
               "a float in an int column": "items", "no key": "card", "no timestamp": "ts", "a null key": "card",
               "an instant out of range": "ts", "a timestamp as text": "ts", "someone else's entry": "card"}
    bad_ids, sent = {}, {}
    for position, (what, fields) in enumerate(broken.items()):
        log.publish(events[position * 60 : (position + 1) * 60])
        if "payment_id" in fields:
            fields = {**fields, "payment_id": f'"bad-{position}"'}
        entry_id = log.append(fields)
        bad_ids[entry_id], sent[entry_id] = what, fields
    row = fdag.RowDriver(DAG, store=make_store())
    stats = drain(row.consume("payments", log, group="features", consumer="w1", batch=100), 610)
    assert (stats.read, stats.applied, stats.dead_lettered, stats.pending) == (610, 600, 10, 0)
    dead = [entry.mapping() for entry in log.dead_letters()]
    assert [fields[b"_fdag_entry"].decode() for fields in dead] == list(bad_ids)
    for fields in dead:
        entry_id = fields[b"_fdag_entry"].decode()
        reason = fields[REASON_FIELD].decode()
        assert reason.startswith(f"entry {entry_id} of source 'payments': column '{columns[bad_ids[entry_id]]}'")
        assert "Hint:" in reason and fields[b"_fdag_group"] == b"features"
        original = {k.decode(): v.decode() for k, v in fields.items() if not k.startswith(b"_fdag_")}
        assert original == sent[entry_id]  # kept as sent: repair and publish again
    assert_matches_frame(row, events, spine(10, T0 + SPAN))


class CrashingAck:
    """A log whose first ``ack`` fails: the worker dies between ingest and acknowledgement."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.crashed = False

    def ack(self, group: str, ids: Any) -> None:
        if not self.crashed:
            self.crashed = True
            raise RuntimeError("killed before XACK")
        self.log.ack(group, ids)

    def read_group(self, *args: Any, ack: Any = (), **options: Any) -> Any:
        if ack:  # a worker acknowledges a batch with the read of the next one
            self.ack("", [])
        return self.log.read_group(*args, ack=ack, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


def test_a_restarted_consumer_re_reads_its_pending_entries_first(backend: Backend) -> None:
    make_log, make_store = backend
    events = make_payments(1_000, cards=10, seed=6)
    log = make_log()
    log.publish(events)
    row = fdag.RowDriver(DAG, store=make_store())
    with pytest.raises(RuntimeError, match="killed before XACK"):
        row.consume("payments", CrashingAck(log), group="g", consumer="w1", batch=300).run()
    # The first batch was ingested and never acknowledged; the second, read ahead, was either ingested and
    # acknowledged as the run ended (its read had been sent before the crash), or is pending too.
    held = log.pending("g")
    assert held in (300, 600)
    stats = drain(row.consume("payments", log, group="g", consumer="w1", batch=300), 1_000)
    first_run_applied = 300 + (600 - held)
    assert (stats.recovered, stats.duplicates, stats.pending) == (held, 300, 0)
    assert stats.applied == 1_000 - first_run_applied
    assert_matches_frame(row, events, spine(10, T0 + SPAN))


def test_without_ids_a_crash_between_ingest_and_ack_counts_the_batch_twice(
    backend: Backend, make_module: Callable[[str, str], Any]
) -> None:
    """What docs/streams.md warns about: no id, no deduplication of a re-read batch."""
    make_log, make_store = backend
    module = make_module("no_ids", """
        from datetime import datetime
        import fdag
        clicks = fdag.Source("clicks", key="user", timestamp="ts", schema={"user": str, "ts": datetime})

        @fdag.window(clicks, agg="count", over="1d")
        def clicks_1d(user: str) -> str:
            return user
    """)
    dag = fdag.Dag.from_modules(module)
    log = make_log(module.clicks)
    log.publish([{"user": "u1", "ts": T0 + timedelta(seconds=i)} for i in range(100)])
    row = fdag.RowDriver(dag, store=make_store())
    with pytest.raises(RuntimeError):
        row.consume("clicks", CrashingAck(log), group="g", consumer="w1", batch=40).run()
    drain(row.consume("clicks", log, group="g", consumer="w1", batch=40), 100)
    assert row.get({"user": "u1"}, as_of=T0 + timedelta(hours=1))["clicks_1d"] == 140


def test_entries_left_pending_by_a_dead_consumer_are_claimed(backend: Backend) -> None:
    make_log, make_store = backend
    events = make_payments(500, cards=10, seed=7)
    log = make_log()
    log.publish(events)
    log.create_group("g")
    taken = log.read_group("g", "dead", 300)  # read, then the consumer vanished
    assert len(taken) == 300 and log.pending("g") == 300
    row = fdag.RowDriver(DAG, store=make_store())
    worker = row.consume("payments", log, group="g", consumer="live", batch=1_000, claim_after=1.0)
    assert worker.run(timeout=0.1).read == 200  # the rest, new; the dead one's are not idle long enough yet
    stats = drain(worker, 500)
    assert (stats.claimed, stats.applied, stats.pending, stats.lag) == (300, 500, 0, 0)
    assert_matches_frame(row, events, spine(10, T0 + SPAN))


def test_logs_count_deliveries_of_entries_read_again(backend: Backend) -> None:
    make_log, _ = backend
    log = make_log()
    log.publish(make_payments(3, cards=1, seed=13))
    log.create_group("g")
    assert [entry.deliveries for entry in log.read_group("g", "w1", 10)] == [1, 1, 1]
    again = log.read_group("g", "w1", 2, pending=True)
    assert [entry.deliveries for entry in again] == [2, 2]
    assert [e.deliveries for e in log.read_group("g", "w1", 5, pending=True, after=again[0].id)] == [3, 2]
    assert [entry.deliveries for entry in log.claim("g", "w2", 0.0, 10)] == [3, 4, 3]
    assert log.read_group("g", "w2", 10, pending=True, ack=[again[0].id])[0].id == again[1].id  # acked first


class Killed(BaseException):
    """What a worker's process does on the poison entry: it ends, whatever the code around it catches."""


def test_a_poison_entry_goes_to_the_dead_letters_after_max_deliveries(backend: Backend) -> None:
    """Ingesting one entry kills the worker each time; restarted under its name, it must not loop forever."""
    make_log, make_store = backend
    events = make_payments(2_000, cards=20, seed=14)
    log = make_log()
    ids = log.publish(events)
    poison = events[1_234]["payment_id"]
    row = fdag.RowDriver(DAG, store=make_store())
    ingested_poison = 0

    def ingest(batch: list[Any]) -> Any:
        nonlocal ingested_poison
        if any(event["payment_id"] == poison for event in batch):
            ingested_poison += 1
            raise Killed
        return row.ingest("payments", batch)

    def validate(batch: list[Any]) -> None:
        row.ingest  # noqa: B018 (nothing to check here: the entries are well formed)

    crashes = 0
    while True:
        worker = StreamWorker(SOURCE, log, ingest, validate, group="g", consumer="w1", batch=300)
        try:
            stats = drain(worker, 2_000)
            break
        except Killed:
            crashes += 1
            assert crashes < 20, "the poison entry loops"
    # Delivered in a batch, re-read with its batch, then alone 3 times: 5 ingests, dead-lettered at the 6th delivery.
    assert (crashes, ingested_poison) == (5, 5)
    [dead] = [entry.mapping() for entry in log.dead_letters()]  # only the poison: its neighbours were not dragged
    assert dead[b"_fdag_entry"].decode() == ids[1_234]
    assert dead[REASON_FIELD].decode().startswith(
        f"entry {ids[1_234]} of source 'payments' was delivered 6 times (max_deliveries=5) and never acknowledged")
    assert "Hint:" in dead[REASON_FIELD].decode()
    assert log.pending("g") == 0 and stats.dead_lettered == 1
    assert_matches_frame(row, [event for event in events if event["payment_id"] != poison], spine(20, T0 + SPAN))


def test_stats_report_lag_in_entries_and_seconds(backend: Backend) -> None:
    make_log, make_store = backend
    log = make_log()
    ids = log.publish(make_payments(50, cards=5, seed=8))
    worker = fdag.RowDriver(DAG, store=make_store()).consume("payments", log, group="g", consumer="w1")
    time.sleep(0.2)
    before = worker.stats
    assert before.lag == 50 and before.pending == 0 and 0.2 <= before.lag_seconds < 30 and before.last_id is None
    after = worker.run(max_events=20)
    assert (after.read, after.lag, after.pending, after.last_id) == (20, 30, 0, ids[19])
    assert after.lag_seconds >= 0.2  # the oldest entry not yet delivered is as old as the first


def test_stop_ends_a_run_from_another_thread(backend: Backend) -> None:
    import threading

    make_log, make_store = backend
    worker = fdag.RowDriver(DAG, store=make_store()).consume("payments", make_log(), group="g", consumer="w1")
    threading.Timer(0.3, worker.stop).start()
    began = time.monotonic()
    worker.run()
    assert time.monotonic() - began < 3 and worker.stopped


class CountingReads:
    """A log that counts the reads of new entries begun so far."""

    def __init__(self, log: Any) -> None:
        self.log = log
        self.reads = 0

    def read_group(self, *args: Any, pending: bool = False, **options: Any) -> Any:
        if not pending:
            self.reads += 1
        return self.log.read_group(*args, pending=pending, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


def test_the_next_read_is_under_way_before_a_batch_is_ingested() -> None:
    """The read ahead reaches the log before the ingest starts: a read begun only when the ingest next releases
    the interpreter lock waits in the server behind that ingest's own script (measured: worker 0.75-0.77x ->
    0.81-0.85x of plain ingest)."""
    log = CountingReads(fdag.MemoryStream("payments", source=SOURCE))
    log.publish(make_payments(500, cards=5, seed=3))
    begun: list[int] = []

    def ingest(events: Any) -> Any:
        begun.append(log.reads)  # pure Python up to here: the reader thread runs only if it was waited for
        return SimpleNamespace(accepted=len(events), duplicates=0, too_late=0)

    worker = StreamWorker(SOURCE, log, ingest, lambda events: None, group="g", consumer="w1", batch=100)
    assert worker.run(max_events=500).applied == 500
    assert begun[:4] == [2, 3, 4, 5]  # batch k's ingest begins once the read of batch k + 1 has begun


def test_consume_checks_its_arguments() -> None:
    row = fdag.RowDriver(DAG)
    log = fdag.MemoryStream("payments")
    assert isinstance(log, fdag.StreamLog)
    with pytest.raises(fdag.InputError, match=r"input 'batch' is 0\. Hint: read at least one entry"):
        row.consume("payments", log, group="g", consumer="w1", batch=0)
    with pytest.raises(fdag.InputError, match=r"input 'max_deliveries' is 2\. Hint: allow at least 3 deliveries"):
        row.consume("payments", log, group="g", consumer="w1", max_deliveries=2)
    with pytest.raises(fdag.InputError, match="input 'clicks' is not a source of this driver"):
        row.consume("clicks", log, group="g", consumer="w1")


def test_pending_entries_trimmed_from_the_stream_are_counted_and_acknowledged(redis_server: RedisServer) -> None:
    log = fdag.RedisStream(redis_server.url, f"payments-{uuid.uuid4().hex[:8]}", source=SOURCE)
    log.publish(make_payments(30, cards=3, seed=9))
    log.create_group("g")
    assert len(log.read_group("g", "w1", 10)) == 10 and len(log.read_group("g", "gone", 10)) == 10
    log.client.execute_command("XTRIM", log.stream, "MAXLEN", 0)  # e.g. a maxlen too short for a slow group
    row = fdag.RowDriver(DAG, store=fdag.RedisStore(redis_server.url, namespace=uuid.uuid4().hex[:8]))
    worker = row.consume("payments", log, group="g", consumer="w1", claim_after=0.2)
    time.sleep(0.3)
    stats = worker.run(timeout=0.5)
    assert (stats.recovered, stats.claimed, stats.trimmed, stats.applied, stats.pending) == (10, 10, 20, 0, 0)
