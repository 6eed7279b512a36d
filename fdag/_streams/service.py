"""Run a stream worker as a service: until SIGINT or SIGTERM, with a live progress line.

On the first signal the worker finishes and acknowledges the batch in hand and returns; a second one ends the
process at once (its batch then stays pending and is read again by the next worker of that name).
"""

from __future__ import annotations

import gc
import signal
import sys
from types import FrameType
from typing import TextIO

from fdag._streams.worker import StreamWorker, WorkerStats


def run_until_stopped(worker: StreamWorker, progress: float = 1.0, out: TextIO | None = None) -> WorkerStats:
    """Run ``worker`` until a signal (or ``worker.stop()``); every ``progress`` seconds write a line to ``out``.

    ``out`` defaults to stderr; on a terminal the line is rewritten in place. ``progress=0``: no progress lines.
    Must be called from the main thread of a process dedicated to the worker (signal handlers live there, and
    the objects that exist when it starts are frozen out of garbage collection). Returns the final stats.
    """
    out = out or sys.stderr
    terminal = out.isatty()
    # What start-up built (modules, the plan, Polars) lives as long as the process: keep the collector from
    # traversing it again and again as each batch allocates its events (~15% of a worker's CPU).
    gc.freeze()

    def stop(signum: int, frame: FrameType | None) -> None:
        worker.stop()
        signal.signal(signum, signal.SIG_DFL)  # a second signal ends the process

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not worker.stopped:
            stats = worker.run(timeout=progress or None)
            if progress:
                line = progress_line(stats)
                out.write(f"\r{line}\x1b[K" if terminal else f"{line}\n")  # in place on a terminal
                out.flush()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if progress and terminal:
            out.write("\n")
    return worker.stats


def progress_line(stats: WorkerStats) -> str:
    """One line of progress: what was applied and set aside, and how far behind the group is."""
    lag = "?" if stats.lag is None else f"{stats.lag:,}"
    return (f"applied {stats.applied:,}  duplicates {stats.duplicates:,}  too late {stats.too_late:,}  "
            f"dead-lettered {stats.dead_lettered:,}  pending {stats.pending:,}  lag {lag} "
            f"({stats.lag_seconds:.1f} s)")


def final_line(stats: WorkerStats) -> str:
    """The line printed when a worker stops: every count, and the last entry it acknowledged."""
    lag = "unknown" if stats.lag is None else f"{stats.lag}"
    return (f"stopped: read {stats.read}, applied {stats.applied}, duplicates {stats.duplicates}, "
            f"too late {stats.too_late}, future {stats.future}, dead-lettered {stats.dead_lettered}, "
            f"recovered {stats.recovered}, claimed {stats.claimed}, pending {stats.pending}, lag {lag}, "
            f"last entry {stats.last_id or 'none'}")
