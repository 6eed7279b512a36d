"""Benchmark stream ingestion: a Redis Stream worker feeding a RedisStore, on the fraud module (17 features).

Starts its own redis-server (AOF on, ``appendfsync always``) on a free port, then measures

1. throughput of one worker (in process: read, decode, ingest, acknowledge) against plain ``row.ingest`` of the
   same batches of 1,000 events into a RedisStore — interleaved rounds, ratio = median of per-round ratios;
2. scaling from 1 to 2 worker processes of one consumer group over the same stream;
3. freshness: a producer process publishes 10,000 events/s while probe events are timed from ``publish`` to
   the first ``RowDriver.get`` that sees them (p50 / p99; polled every millisecond), with one worker process
   consuming — under ``appendfsync always`` and again on a second server with ``everysec``.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python benchmarks/bench_streams.py [--quick]
"""

from __future__ import annotations

import gc
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fdag
from feature_modules import fraud

DAG = fdag.Dag.from_modules(fraud)
START = datetime(2024, 1, 1, tzinfo=UTC)
BATCH = 1_000
POLL = 0.001  # seconds between two gets of a probe: a busy loop would take a core from the worker


def make_events(count: int, users: int, seed: int, start: datetime = START) -> list[dict[str, Any]]:
    """``count`` transactions of ``users`` users, one per 10 ms, in time order."""
    rng = random.Random(seed)
    step = timedelta(milliseconds=10)
    return [{"txn_id": f"{seed}-{i}", "user_id": f"u{rng.randrange(users)}", "ts": start + i * step,
             "amount": round(rng.lognormvariate(3, 1), 2), "merchant": f"m{rng.randrange(200)}"}
            for i in range(count)]


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def settle(log: fdag.RedisStream) -> None:
    """Wait for a background AOF rewrite to end: measure steady state, not the fork competing for the cores."""
    while any(int(log.client.info("persistence")[flag]) for flag in
              ("aof_rewrite_in_progress", "aof_rewrite_scheduled")):
        time.sleep(0.1)


# --- throughput: one worker in process vs plain ingest ---------------------------------------------------------

class Meter:
    """Wall time, this process's CPU time (all threads) and the Redis server's CPU time of a block."""

    def __init__(self, log: fdag.RedisStream) -> None:
        self.log = log

    def _server(self) -> float:
        info = self.log.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

    def __enter__(self) -> Meter:
        self.marks = (time.perf_counter(), time.process_time(), self._server())
        return self

    def __exit__(self, *exc: object) -> None:
        wall, cpu, server = self.marks
        self.wall, self.cpu, self.server = (time.perf_counter() - wall, time.process_time() - cpu,
                                            self._server() - server)


def plain_run(url: str, log: fdag.RedisStream, events: list[dict[str, Any]]) -> Meter:
    """``row.ingest`` in batches of 1,000 into a fresh RedisStore namespace."""
    row = fdag.RowDriver(DAG, store=fdag.RedisStore(url, namespace=f"plain-{uuid.uuid4().hex[:8]}"))
    settle(log)
    with Meter(log) as meter:
        for first in range(0, len(events), BATCH):
            row.ingest("transactions", events[first : first + BATCH])
    return meter


def worker_run(url: str, log: fdag.RedisStream, count: int) -> Meter:
    """One worker reading the whole stream (a fresh group) into a fresh namespace."""
    tag = uuid.uuid4().hex[:8]
    row = fdag.RowDriver(DAG, store=fdag.RedisStore(url, namespace=f"worker-{tag}"))
    worker = row.consume("transactions", log, group=f"g-{tag}", consumer="w1", batch=BATCH)
    settle(log)
    with Meter(log) as meter:
        stats = worker.run(max_events=count)
    assert stats.applied == count, stats
    return meter


# --- scaling: worker processes of one group -------------------------------------------------------------------

def serve(url: str, stream: str, group: str, consumer: str, namespace: str) -> None:
    """Worker-process mode: get ready, wait for "go" on stdin, drain the group, exit."""
    row = fdag.RowDriver(DAG, store=fdag.RedisStore(url, namespace=namespace))
    log = fdag.RedisStream(url, stream)
    worker = row.consume("transactions", log, group=group, consumer=consumer, batch=BATCH)
    print("ready", flush=True)
    gc.freeze()  # as `fdag ingest` does
    sys.stdin.readline()
    while True:
        stats = worker.run(timeout=0.02)  # short: a worker done with its share waits at most this long
        if stats.lag == 0 and stats.pending == 0:
            break
    print(stats.applied, flush=True)


def spawn(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, __file__, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})


def group_rate(url: str, log: fdag.RedisStream, workers: int, count: int) -> float:
    """Events/s of ``workers`` processes of one fresh group draining the stream (start-up not included)."""
    tag = uuid.uuid4().hex[:8]
    log.create_group(f"g-{tag}")
    processes = [spawn("--serve", url, log.stream, f"g-{tag}", f"w{i}", f"ns-{tag}") for i in range(workers)]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    settle(log)
    began = time.perf_counter()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    applied = sum(int(process.communicate()[0].strip()) for process in processes)
    elapsed = time.perf_counter() - began
    assert applied == count, applied
    return count / elapsed


# --- freshness: publish -> visible in get ---------------------------------------------------------------------

def produce(url: str, stream: str, rate: int, seconds: float) -> None:
    """Producer-process mode: publish ``rate`` events/s stamped now, in chunks every 10 ms, for ``seconds``."""
    log = fdag.RedisStream(url, stream, source=fraud.transactions)
    rng = random.Random(7)
    chunk = rate // 100
    began = time.monotonic()
    sent = 0
    while time.monotonic() - began < seconds:
        now = datetime.now(UTC)
        log.publish([{"txn_id": f"bg-{sent + i}", "user_id": f"u{rng.randrange(10_000)}", "ts": now,
                      "amount": 10.0, "merchant": "m1"} for i in range(chunk)])
        sent += chunk
        time.sleep(max(0.0, began + sent / rate - time.monotonic()))


def freshness(url: str, rate: int, seconds: float) -> tuple[list[float], float]:
    """Seconds from ``publish`` of a probe event to the first ``get`` that counts it, and the achieved rate."""
    tag = uuid.uuid4().hex[:8]
    stream, namespace = f"fresh-{tag}", f"fresh-{tag}"
    log = fdag.RedisStream(url, stream, source=fraud.transactions)
    log.create_group("g")
    worker = spawn("--serve-forever", url, stream, "g", "w1", namespace)
    assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
    assert worker.stdin is not None
    worker.stdin.write("go\n")
    worker.stdin.flush()
    producer = spawn("--produce", url, stream, str(rate), str(seconds))
    row = fdag.RowDriver(DAG, store=fdag.RedisStore(url, namespace=namespace))  # the worker's layout: all outputs
    delays = []
    time.sleep(0.5)  # let the producer reach its pace
    began = time.monotonic()
    probe = 0
    while time.monotonic() - began < seconds - 1.0:
        user = f"probe-{tag}-{probe}"
        now = datetime.now(UTC)
        sent = time.perf_counter()
        log.publish({"txn_id": user, "user_id": user, "ts": now, "amount": 1.0, "merchant": "m1"})
        while row.get({"user_id": user, "amount": 1.0, "merchant": "m1"}, as_of=now + timedelta(seconds=1))[
                "spend_count_5m"] == 0:
            time.sleep(POLL)
        delays.append(time.perf_counter() - sent)
        probe += 1
        time.sleep(0.02)
    producer.wait()
    worker.terminate()
    worker.wait()
    achieved = (int(log.client.execute_command("XLEN", stream)) - probe) / seconds
    return delays, achieved


def freshness_runs(url: str, runs: int, seconds: float) -> list[tuple[float, float, float]]:
    """``runs`` freshness measurements at 10,000 events/s: (p50, p99, achieved rate) each."""
    results = []
    for _ in range(runs):
        delays, rate = freshness(url, 10_000, seconds)
        results.append((percentile(delays, 0.5), percentile(delays, 0.99), rate))
    return results


def main(quick: bool) -> None:
    """Run every measurement and print Markdown tables."""
    from tests.redis_server import RedisServer

    count, rounds, seconds = (10_000, 3, 4.0) if quick else (50_000, 5, 8.0)
    events = make_events(count, users=10_000, seed=1)
    with tempfile.TemporaryDirectory() as directory:
        server = RedisServer(Path(directory)).start()
        try:
            log = fdag.RedisStream(server.url, "payments", source=fraud.transactions)
            log.publish(events)
            plain_run(server.url, log, events[:5_000])  # warm up scripts and connections
            plains, workers = [], []
            for _ in range(rounds):  # interleaved: both contenders see the same machine load
                plains.append(plain_run(server.url, log, events))
                workers.append(worker_run(server.url, log, count))
            ratios = [plain.wall / worker.wall for plain, worker in zip(plains, workers, strict=True)]
            scale: dict[int, list[float]] = {1: [], 2: []}
            for _ in range(max(1, rounds - 2)):
                for n in (1, 2):
                    scale[n].append(group_rate(server.url, log, n, count))
            fresh = {"always": freshness_runs(server.url, max(1, rounds - 2), seconds)}
            version = log.client.info("server")["redis_version"]
        finally:
            server.stop()
        relaxed = RedisServer(Path(directory) / "everysec", fsync="everysec").start()
        try:
            fresh["everysec"] = freshness_runs(relaxed.url, max(1, rounds - 2), seconds)
        finally:
            relaxed.stop()
    median = statistics.median
    print(f"## Stream ingestion: fraud module (17 features), {count:,} events, batches of {BATCH:,}, Redis {version} "
          f"on loopback, AOF appendfsync always\n")
    def cost(meters: list[Meter], part: str) -> str:
        return f"{median(getattr(m, part) for m in meters) / count * 1e6:.1f} µs"

    print("| path | events/s (median) | ratio | client CPU / event | Redis CPU / event |")
    print("|---|---|---|---|---|")
    print(f"| plain `row.ingest` into a RedisStore | {median(count / m.wall for m in plains):,.0f} | 1.00x "
          f"| {cost(plains, 'cpu')} | {cost(plains, 'server')} |")
    print(f"| worker: XREADGROUP, decode, ingest, XACK | {median(count / m.wall for m in workers):,.0f} "
          f"| **{median(ratios):.2f}x** (per round {', '.join(f'{r:.2f}' for r in ratios)}) "
          f"| {cost(workers, 'cpu')} | {cost(workers, 'server')} |")
    print("\n| worker processes, one group | events/s (median) | speed-up |")
    print("|---|---|---|")
    for n in (1, 2):
        print(f"| {n} | {median(scale[n]):,.0f} | {median(scale[n]) / median(scale[1]):.2f}x |")
    print("\n| freshness: publish → visible in `get`, one worker process | published events/s | p50 | p99 "
          "(goal ≤ 50 ms) | p99 per run |")
    print("|---|---|---|---|---|")
    for fsync, runs in fresh.items():
        p50s, p99s, rates = zip(*runs, strict=True)
        print(f"| `appendfsync {fsync}`, {len(runs)} runs | {median(rates):,.0f} | {median(p50s) * 1e3:.1f} ms "
              f"| **{median(p99s) * 1e3:.1f} ms** | {', '.join(f'{p * 1e3:.1f}' for p in p99s)} ms |")
    print(f"\n1-minute load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores.")
    print(f"\nReproduce: PYTHONPATH=. .venv/bin/python benchmarks/bench_streams.py{' --quick' if quick else ''}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(*sys.argv[2:7])
    elif sys.argv[1:2] == ["--serve-forever"]:
        url, stream, group, consumer, namespace = sys.argv[2:7]
        from fdag._streams.service import run_until_stopped

        row = fdag.RowDriver(DAG, store=fdag.RedisStore(url, namespace=namespace))
        print("ready", flush=True)
        sys.stdin.readline()
        run_until_stopped(row.consume("transactions", fdag.RedisStream(url, stream), group=group,
                                      consumer=consumer), progress=0)
    elif sys.argv[1:2] == ["--produce"]:
        produce(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]))
    else:
        main("--quick" in sys.argv)
