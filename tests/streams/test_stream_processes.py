"""`fdag ingest` worker processes on a real Redis: kill -9 mid-batch and restart, and a clean SIGTERM shutdown.

The store after the run is compared with FrameDriver over the deduplicated events (the independent engine).
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
import uuid
from typing import Any

import fdag
from tests.conftest import ROOT
from tests.redis_server import RedisServer
from tests.stream_events import DAG, SOURCE, SPAN, T0, assert_matches_frame, make_payments, spine, unique
from tests.stream_events import with_resends_and_late as resent

FINAL = re.compile(r"stopped: read (\d+), applied (\d+), duplicates (\d+), too late (\d+), future (\d+), "
                   r"dead-lettered (\d+), recovered (\d+), claimed (\d+), pending (\d+), lag (\d+), last entry ")


def start_worker(server: RedisServer, stream: str, namespace: str, consumer: str, *extra: str) -> subprocess.Popen[str]:
    """``fdag ingest`` of the payments source, as an operator would start it."""
    command = [sys.executable, "-m", "fdag", "ingest", "tests.resources.payments", "--source", "payments",
               "--stream", server.url, "--stream-name", stream, "--group", "features", "--consumer", consumer,
               "--store", server.url, "--namespace", namespace, "--progress", "0.2", *extra]
    return subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def pending_on(log: fdag.RedisStream, consumer: str) -> int:
    return len(log.client.execute_command("XPENDING", log.stream, "features", "-", "+", 10_000, consumer))


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def stop(worker: subprocess.Popen[str]) -> tuple[re.Match[str], str]:
    """SIGTERM the worker; it must exit 0 with its final line on stdout."""
    worker.send_signal(signal.SIGTERM)
    out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    final = FINAL.search(out)
    assert final, out
    return final, err


def test_two_workers_one_killed_mid_batch_apply_every_event_exactly_once(redis_server: RedisServer) -> None:
    began = time.monotonic()
    tag = uuid.uuid4().hex[:8]
    events = make_payments(100_000, cards=400, seed=11)
    stream = resent(events, seed=12)  # ~5,000 re-sent copies and 200 events three days late
    log = fdag.RedisStream(redis_server.url, f"payments-{tag}", source=SOURCE)
    log.create_group("features")
    chunks = [stream[i : i + 10_000] for i in range(0, len(stream), 10_000)]
    # A backlog: a busy worker always holds a batch (it reads the next before it acks). Nine tenths of the stream,
    # so that w1 is still busy when it is killed. w2 starts once w1 holds a batch (and boots for longer than the kill
    # takes): started together, w2 could drain the backlog before w1 had booted, leaving w1 nothing to hold.
    for chunk in chunks[:9]:
        log.publish(chunk)
    first = start_worker(redis_server, log.stream, tag, "w1", "--batch", "500", "--claim-after", "60")
    wait_for(lambda: pending_on(log, "w1") > 0, 30, "w1 to hold a batch")
    second = start_worker(redis_server, log.stream, tag, "w2", "--batch", "500", "--claim-after", "60")
    first.kill()  # SIGKILL: no chance to finish or acknowledge the batch in hand
    first.wait()
    left = pending_on(log, "w1")
    assert left > 0
    restarted = start_worker(redis_server, log.stream, tag, "w1", "--batch", "500", "--claim-after", "60")
    for chunk in chunks[9:]:
        log.publish(chunk)
    wait_for(lambda: log.lag("features").entries == 0 and log.pending("features") == 0, 60, "the group to catch up")
    (one, _), (two, err) = stop(restarted), stop(second)
    assert int(one[7]) > 0  # the restarted w1 read its pending entries again, first
    assert "applied" in err.splitlines()[0]  # the live progress line
    assert log.pending("features") == 0 and log.lag("features").entries == 0 and log.dead_letters() == []
    assert len(log.client.execute_command("XPENDING", log.stream, "features", "-", "+", 10)) == 0
    assert int(one[1]) + int(two[1]) <= len(stream)  # w1's first life read the rest
    row = fdag.RowDriver(DAG, store=fdag.RedisStore(redis_server.url, namespace=tag))
    assert_matches_frame(row, unique(stream), spine(400, T0 + SPAN))
    print(f"kill test: {len(stream):,} entries, {left} pending at the kill, {time.monotonic() - began:.1f} s")


def test_sigterm_finishes_and_acknowledges_the_batch_in_hand(redis_server: RedisServer) -> None:
    tag = uuid.uuid4().hex[:8]
    events = make_payments(30_000, cards=50, seed=13)
    log = fdag.RedisStream(redis_server.url, f"payments-{tag}", source=SOURCE)
    log.publish(events)
    log.create_group("features")
    worker = start_worker(redis_server, log.stream, tag, "w1", "--batch", "200")
    wait_for(lambda: pending_on(log, "w1") > 0, 30, "the worker to hold a batch")
    final, err = stop(worker)
    read = int(final[1])
    assert 0 < read < len(events) and int(final[9]) == 0  # stopped early, nothing left pending
    assert log.pending("features") == 0 and log.lag("features").entries == len(events) - read
    assert "applied" in err
    row = fdag.RowDriver(DAG, store=fdag.RedisStore(redis_server.url, namespace=tag))
    assert_matches_frame(row, events[:read], spine(50, T0 + SPAN))  # exactly the entries it acknowledged


def test_ingest_is_a_command_and_rejects_an_unknown_store() -> None:
    result = subprocess.run([sys.executable, "-m", "fdag", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert "ingest" in result.stdout
    result = subprocess.run([sys.executable, "-m", "fdag", "ingest", "tests.resources.payments", "--source",
                             "payments", "--stream", "redis://127.0.0.1:1/0", "--stream-name", "s", "--group", "g",
                             "--store", "postgres://db"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 1 and result.stderr == (
        "fdag: input '--store' is 'postgres://db', neither a Redis url nor 'memory'. Hint: pass e.g. "
        "--store redis://127.0.0.1:6379/0, or --store memory.\n")
