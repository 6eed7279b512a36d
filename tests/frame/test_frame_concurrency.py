"""One FrameDriver evaluated by several threads at once: each run's table, errors and watermarks are its own.

Every call gets its own spine and events: a different number of users (so a different count of
``ZeroDivisionError`` rows), negative amounts of its own (so ``ValueError`` messages no other call has) and a
latest event at its own instant (so its own watermark, which caps the ``__as_of`` columns). A driver that kept
any of them between the computation and the return would hand one thread another thread's.
"""

from __future__ import annotations

import random
import threading
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import fdag
from tests.resources import spend

THREADS = 8
ROUNDS = 3
T = datetime(2024, 6, 1, tzinfo=UTC)
DAG = fdag.Dag.from_modules(spend)
Call = tuple[pl.DataFrame, pl.DataFrame]


def call_of(index: int) -> Call:
    """The spine and the payments of call ``index``; its latest payment is at ``T + index minutes``."""
    rng = random.Random(index)
    users = [f"u{u}" for u in range(4 + index)]
    paying = users[: len(users) // 2]  # the other half never pays: share_of_hour divides by zero for them
    ts = [T - timedelta(seconds=rng.randrange(1, 7200)) for _ in range(3000)] + [T + timedelta(minutes=index)]
    events = pl.DataFrame({"user_id": [rng.choice(paying) for _ in ts], "ts": ts,
                           "amount": [float(rng.randrange(1, 100)) for _ in ts]})
    rows = 2000 + 100 * index
    spine = pl.DataFrame({
        "user_id": [rng.choice(users) for _ in range(rows)],
        "amount": [-float(index + 1) if rng.random() < 0.1 else float(rng.randrange(1, 50)) for _ in range(rows)],
        "as_of": [T + timedelta(seconds=rng.randrange(-3600, 3600)) for _ in range(rows)],
    })
    return spine, events


def evaluate(frame: fdag.FrameDriver, call: Call) -> fdag.FrameResult:
    spine, events = call
    return frame.evaluate(spine, sources={"payments": events}, with_as_of=True)


def test_each_call_alone_differs_from_the_others() -> None:
    """The threaded test below is only as sharp as its calls are different: pin that they are."""
    frame = fdag.FrameDriver(DAG)
    results = [evaluate(frame, call_of(index)) for index in range(THREADS)]
    assert len({result.watermarks["payments"] for result in results}) == THREADS
    assert len({result.errors for result in results}) == THREADS
    for index, result in enumerate(results):
        spine, events = call_of(index)
        assert dict(result.watermarks) == {"payments": events["ts"].max()} == {"payments": T + timedelta(minutes=index)}
        negative = spine.filter(pl.col("amount") < 0).height
        kinds = {(e.node, e.type, e.message): e.count for e in result.errors}
        assert kinds[("checked_amount", "ValueError", f"negative amount {-float(index + 1)}")] == negative
        assert result.checks == ()
        capped = pl.min_horizontal(pl.col("as_of"), pl.lit(T + timedelta(minutes=index)))
        assert result.table["share_of_hour__as_of"].equals(spine.select(capped.alias("x"))["x"],
                                                          check_names=False)


def test_concurrent_evaluations_of_one_driver_each_get_their_own_result() -> None:
    frame = fdag.FrameDriver(DAG)
    calls = [call_of(index) for index in range(THREADS)]
    alone = [evaluate(frame, call) for call in calls]
    got: dict[tuple[int, int], fdag.FrameResult] = {}
    failures: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def work(index: int) -> None:
        try:
            for round_ in range(ROUNDS):
                barrier.wait(timeout=60)  # every thread starts each round together, so the runs overlap
                got[index, round_] = evaluate(frame, calls[index])
        except BaseException as exc:  # re-raised in the main thread, which pytest watches
            failures.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=work, args=(index,)) for index in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if failures:
        raise failures[0]
    for (index, _), result in sorted(got.items()):
        assert result.errors == alone[index].errors
        assert dict(result.watermarks) == dict(alone[index].watermarks)
        assert_frame_equal(result.table, alone[index].table, check_exact=True)


def test_errors_raise_is_unchanged_by_results() -> None:
    frame = fdag.FrameDriver(DAG, ["checked_amount"], errors="raise")
    spine, events = call_of(0)
    with pytest.raises(fdag.FeatureError, match=r"feature 'checked_amount' .* raised ValueError: negative amount"):
        frame.evaluate(spine, sources={"payments": events})


def test_a_source_without_events_has_no_watermark() -> None:
    frame = fdag.FrameDriver(DAG, ["spent_1h"])
    spine, events = call_of(0)
    result = frame.evaluate(spine.head(3), sources={"payments": events.head(0)}, with_as_of=True)
    assert dict(result.watermarks) == {"payments": None}
    assert result.table["spent_1h"].to_list() == [0.0, 0.0, 0.0]
    assert result.table["spent_1h__as_of"].to_list() == [None, None, None]
