"""One RowDriver (fraud module, MemoryStore) shared by 8 threads that ingest and get at the same time.

Every thread ingests *pairs* of payments in one batch each: both of a pair have the same user and timestamp and
amounts summing to ``PAIR_TOTAL`` (multiples of 0.25, so float sums are exact). A state that applies a batch
all at once, and answers a query from one state, therefore always shows an even count and a sum of exactly
``PAIR_TOTAL / 2`` per payment in every window; a torn read (half a batch, or count and sum from different
states) breaks one of them. After the run, every feature must equal that of a driver fed the same pairs serially.
"""

from __future__ import annotations

import random
import sys
import threading
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import fdag
from fdag.demo import fraud

THREADS = 8
PAIRS_PER_THREAD = 150
USERS = [f"u{i}" for i in range(6)]
AT = datetime(2024, 5, 1, tzinfo=UTC)
PAIR_TOTAL = 10.0
WINDOWS = ("5m", "1h", "10d")
DAG = fdag.Dag.from_modules(fraud)


def pairs_of(thread: int) -> list[list[dict[str, Any]]]:
    """The batches one thread ingests: pairs of payments of one user at one instant in the hour before ``AT``."""
    rng = random.Random(thread)
    batches = []
    for number in range(PAIRS_PER_THREAD):
        user, ts = rng.choice(USERS), AT - timedelta(seconds=rng.randrange(1, 3600), microseconds=rng.randrange(10))
        first = rng.randrange(41) * 0.25
        batches.append([
            {"txn_id": f"t{thread}-{number}-{half}", "user_id": user, "ts": ts, "amount": amount,
             "merchant": f"m{rng.randrange(5)}"}
            for half, amount in (("a", first), ("b", PAIR_TOTAL - first))
        ])
    return batches


def check_consistent(vector: fdag.FeatureVector, as_of: datetime) -> None:
    """Fail unless ``vector`` could come from a state holding whole pairs only, read all at once."""
    values = vector.values
    for window in WINDOWS:
        count, total, mean = (values[f"spend_{agg}_{window}"] for agg in ("count", "sum", "mean"))
        assert count % 2 == 0, f"odd spend_count_{window}: half a batch is visible in {values}"
        assert total == count * PAIR_TOTAL / 2, f"spend_sum_{window} and spend_count_{window} disagree in {values}"
        assert mean == (PAIR_TOTAL / 2 if count else None), values
    assert values["spend_count_5m"] <= values["spend_count_1h"] <= values["spend_count_10d"], values
    assert values["merchants_1h"] <= values["spend_count_1h"], values
    largest = values["largest_payment_10d"]
    assert (largest is None) == (values["spend_count_10d"] == 0) and (largest is None or largest >= PAIR_TOTAL / 2)
    for name, instant in vector.as_of.items():
        assert instant is None or instant <= as_of, (name, instant)


@pytest.fixture
def frequent_switches() -> Iterator[None]:
    """Make the interpreter switch threads every microsecond, so interleavings a lock must prevent do happen."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("frequent_switches")
def test_shared_row_driver_under_concurrent_ingest_and_get() -> None:
    shared = fdag.RowDriver(DAG, store=fdag.MemoryStore())
    work = {thread: pairs_of(thread) for thread in range(THREADS)}
    failures: list[BaseException] = []
    accepted: list[int] = []
    start = threading.Barrier(THREADS)

    def run(thread: int) -> None:
        rng = random.Random(100 + thread)
        mine: dict[str, int] = defaultdict(int)  # events this thread ingested per user
        seen: dict[str, int] = defaultdict(int)  # the largest spend_count_10d this thread read per user at AT
        try:
            start.wait()
            for batch in work[thread]:
                report = shared.ingest("transactions", batch)
                accepted.append(report.accepted)
                user = batch[0]["user_id"]
                mine[user] += 2
                for asked in (user, rng.choice(USERS)):
                    # A fresh datetime object each time: exercises the state's as_of cache under contention.
                    as_of = AT - timedelta(minutes=rng.choice((0, 0, 20)))
                    vector = shared.get({"user_id": asked, "amount": 1.0, "merchant": "m0"}, as_of=as_of)
                    check_consistent(vector, as_of)
                    if as_of == AT:
                        count = vector["spend_count_10d"]
                        assert count >= mine[asked], "a get missed this thread's own earlier ingest"
                        assert count >= seen[asked], "a later get saw fewer events than an earlier one"
                        seen[asked] = count
        except BaseException as exc:  # collected and re-raised in the main thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(thread,)) for thread in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a thread hung (deadlock?)"
    if failures:
        raise failures[0]
    assert accepted == [2] * (THREADS * PAIRS_PER_THREAD)

    serial = fdag.RowDriver(DAG, store=fdag.MemoryStore())
    for thread in range(THREADS):
        for batch in work[thread]:
            serial.ingest("transactions", batch)
    for user in [*USERS, "nobody"]:
        for as_of in (AT, AT - timedelta(minutes=20), AT + timedelta(days=10)):
            request = {"user_id": user, "amount": 3.0, "merchant": "m1"}
            expected, got = serial.get(request, as_of=as_of), shared.get(request, as_of=as_of)
            assert got.values == expected.values, user
            assert got.as_of == expected.as_of, user
            check_consistent(got, as_of)


def _tick(seq: int, **extra: object) -> dict[str, object]:
    return {"tick_id": seq, "k": "a", "ts": datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=seq), "seq": seq,
            "tag": f"t{seq}", **extra}


def test_a_source_with_two_states_is_updated_atomically_for_concurrent_readers() -> None:
    """Window and lookups of one source live in two states; a reader must never see one updated alone."""
    from tests.resources import two_clocks

    row = fdag.RowDriver(fdag.Dag.from_modules(two_clocks), ["ticks_10d", "latest_seq"])
    late = datetime(2024, 1, 2, tzinfo=UTC)
    torn: list[tuple[int, int | None]] = []
    done = threading.Event()

    def read() -> None:
        while not done.is_set():
            vec = row.get({"k": "a"}, late)
            if vec["ticks_10d"] != (vec["latest_seq"] or 0):
                torn.append((vec["ticks_10d"], vec["latest_seq"]))

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, so a torn read would show
    readers = [threading.Thread(target=read) for _ in range(3)]
    try:
        for reader in readers:
            reader.start()
        for seq in range(1, 1501):
            row.ingest("ticks", [_tick(seq)])
    finally:
        done.set()
        for reader in readers:
            reader.join()
        sys.setswitchinterval(switch)
    assert torn == []
    assert row.get({"k": "a"}, late).values == {"ticks_10d": 1500, "latest_seq": 1500}


def test_a_batch_one_state_rejects_is_applied_to_none() -> None:
    from tests.resources import two_clocks

    row = fdag.RowDriver(fdag.Dag.from_modules(two_clocks), ["ticks_10d", "latest_tag"])
    bad = {k: v for k, v in _tick(2).items() if k != "tag"}  # only the lookup's function reads 'tag'
    with pytest.raises(fdag.SourceError, match="'tag'"):
        row.ingest("ticks", [_tick(1), bad])
    assert row.get({"k": "a"}, datetime(2024, 1, 2, tzinfo=UTC)).values == {"ticks_10d": 0, "latest_tag": None}
