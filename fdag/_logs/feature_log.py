"""``FeatureLog``: every vector a ``RowDriver`` serves, buffered in memory and written to Parquet files.

The hot path only copies the request and extends one list (measured in ``docs/benchmarks.md``); the columnar
conversion and the write happen at flush time, in a writer thread that sleeps until the buffer reaches ``max_rows`` or
``max_seconds`` pass. Each flush writes one new file atomically (a hidden temporary, then ``os.replace``), so a
reader of ``DIR/*.parquet`` sees whole files only. A process that dies loses at most its unflushed buffer: the
rows of the last ``max_seconds`` (and fewer than ``max_rows``); a normal exit flushes it.
"""

from __future__ import annotations

import os
import secrets
import threading
import time
import warnings
import weakref
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from fdag._dag.plan import Plan
from fdag._logs.schema import FIELDS, LogSchema
from fdag._values.atomic import write_parquet_atomically
from fdag.errors import InputError, StoreError

Compute = Callable[[Mapping[str, Any], datetime], Any]
_PREFIX = "served-"
_BEHIND = 2  # the writer is behind once the buffer holds this many times max_rows: callers then write themselves


class FeatureLog:
    """A log of served feature vectors: give it to ``RowDriver(..., log=FeatureLog("logs/served"))``.

    One row per vector that ``get``/``get_many`` returns (a call that raises is not served and not logged):
    the request inputs, ``as_of``, every output, the errors, the node versions and ``served_at``. Rows are
    buffered and written as a new Parquet file in ``path`` when ``max_rows`` are buffered, every
    ``max_seconds`` (``None``: only by size), on ``flush()``, ``close()``, leaving a ``with`` block and at
    interpreter exit. Read them with ``pl.scan_parquet(f"{path}/*.parquet")``; ``fdag.skew`` recomputes them.

    Thread-safe: one log may record a driver called from many threads. If writing ever falls behind (a slow
    disk), a ``get`` that finds the buffer at twice ``max_rows`` writes it itself, so memory stays bounded.
    A write that fails in the background drops its rows (counted in ``dropped``, the error in ``last_error``, a
    ``RuntimeWarning``) rather than failing the requests being served; ``flush()`` raises ``StoreError``.

    Parameters
    ----------
    path
        The directory of the log's Parquet files (created if needed).
    max_rows
        Write a file once this many rows are buffered.
    max_seconds
        Also write whatever is buffered this often, from a background thread; ``None``: only by size.

    Example::

        from datetime import UTC, datetime

        import polars as pl

        import fdag
        from fdag.demo import payment

        with fdag.FeatureLog("logs/served", max_rows=10_000, max_seconds=5) as log:
            row = fdag.RowDriver(fdag.Dag.from_modules(payment), outputs=["log_amount"], log=log)
            row.get({"amount": 12.0}, as_of=datetime(2024, 3, 1, tzinfo=UTC))
        print(pl.read_parquet("logs/served/*.parquet").columns)
        # ['amount', 'as_of', 'log_amount', 'errors', 'versions', 'served_at']
    """

    def __init__(self, path: str | os.PathLike[str], max_rows: int = 10_000,
                 max_seconds: float | None = 5.0) -> None:
        if not isinstance(max_rows, int) or max_rows < 1:
            raise InputError("max_rows", f"is {max_rows!r}", "pass a positive number of rows per file")
        if max_seconds is not None and not max_seconds > 0:
            raise InputError("max_seconds", f"is {max_seconds!r}", "pass a positive number of seconds, or None")
        self.path = Path(path)
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self.path.mkdir(parents=True, exist_ok=True)
        _remove_dead_temporaries(self.path)
        self._sink = _Sink(self.path, max_rows, max_seconds)
        # Flushes at garbage collection and at interpreter exit, without keeping the log alive.
        self._finalizer = weakref.finalize(self, self._sink.close, True)

    def recorder(self, plan: Plan, compute: Compute) -> Compute:
        """``compute`` (a driver's compiled ``(request, as_of) -> vector``) wrapped to log every vector it returns.

        A log records one driver's outputs; binding a driver with other outputs or versions raises
        ``InputError``. The wrapper adds a copy of the request dict and one list extend per call.
        ``RowDriver(..., log=...)`` calls it; callers need not.

        Parameters
        ----------
        plan
            The driver's plan: its inputs, outputs and node versions make the log's columns.
        compute
            The driver's compiled function.
        """
        sink = self._sink
        sink.bind(LogSchema.of(plan))
        rows, limit, full, clock = sink.rows, self.max_rows * FIELDS, sink.full, time.time
        extend = rows.extend

        def logged(request: Mapping[str, Any], as_of: datetime) -> Any:
            vector = compute(request, as_of)
            # One flat list, FIELDS entries per row (extend is atomic: rows never interleave). No per-row
            # container survives: the garbage collector tracks none of these (plain dicts of plain values, an
            # instant, None, a float), so thousands of buffered rows do not slow every collection down.
            # The request is copied: callers may reuse their dict.
            extend((dict(request), as_of, vector.values, vector.errors or None, clock()))
            if len(rows) >= limit:
                full()
            return vector

        return logged

    @property
    def pending(self) -> int:
        """Rows buffered but not yet written."""
        return len(self._sink.rows) // FIELDS

    @property
    def dropped(self) -> int:
        """Rows lost to failed writes (see ``last_error``)."""
        return self._sink.dropped

    @property
    def last_error(self) -> BaseException | None:
        """The error of the last failed write, if any."""
        return self._sink.last_error

    def flush(self) -> Path | None:
        """Write the buffered rows now as one new file; its path, or None when nothing was buffered."""
        return self._sink.flush(quiet=False)

    def close(self) -> None:
        """Stop the writer thread and flush. Rows logged afterwards are written when ``max_rows`` accumulate,
        on ``flush()`` and at exit."""
        self._sink.close(quiet=False)

    def __enter__(self) -> FeatureLog:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"FeatureLog({os.fspath(self.path)!r}, max_rows={self.max_rows}, max_seconds={self.max_seconds}, "
                f"pending={self.pending})")


class _Sink:
    """The buffer, the writer thread and the files: what must outlive a ``FeatureLog`` until it is flushed."""

    def __init__(self, path: Path, max_rows: int, max_seconds: float | None) -> None:
        self.path = path
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        # Extended without a lock (list.extend is atomic); a flush takes a prefix and deletes exactly that
        # prefix, so rows appended meanwhile stay for the next flush and the list object never changes.
        self.rows: list[Any] = []
        self.schema: LogSchema | None = None
        self.dropped = 0
        self.last_error: BaseException | None = None
        self._lock = threading.Lock()  # one flush at a time: files are written in buffer order
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._token = secrets.token_hex(3)  # tells apart logs of one process writing to one directory
        self._sequence = 0

    def bind(self, schema: LogSchema) -> None:
        """Record vectors of ``schema``; start the writer thread with the first driver."""
        with self._lock:
            if self.schema is not None and self.schema != schema:
                raise InputError("log", f"already records a driver with outputs {list(self.schema.outputs)}",
                                 "give each driver (each set of outputs and versions) its own FeatureLog directory")
            self.schema = schema
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="fdag-feature-log", daemon=True)
                self._thread.start()

    def full(self) -> None:
        """Called by the hot path at ``max_rows``: wake the writer, or write here if it is gone or behind."""
        if self._closed or len(self.rows) >= _BEHIND * self.max_rows * FIELDS:
            self.flush(quiet=True)
        else:
            self._wake.set()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.max_seconds)
            self._wake.clear()
            if self.rows and not self._closed:
                self.flush(quiet=True)

    def flush(self, quiet: bool) -> Path | None:
        """Write what is buffered as one file. A failed write drops its rows; ``quiet`` warns instead of raising."""
        with self._lock:
            size = len(self.rows)
            if not size or self.schema is None:
                return None
            batch = self.rows[:size]
            del self.rows[:size]
            count = size // FIELDS
            try:
                return self._write(self.schema, batch)
            except Exception as exc:
                self.dropped += count
                self.last_error = exc
                message = (f"the feature log could not write {count} rows to {self.path} ({exc}); they are lost")
                if not quiet:
                    raise StoreError(f"{message}. Hint: check that the directory is writable and has space.") from exc
                warnings.warn(f"fdag: {message}; serving continues", RuntimeWarning, stacklevel=2)
                return None

    def _write(self, schema: LogSchema, batch: list[Any]) -> Path:
        self._sequence += 1
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        name = f"{_PREFIX}{stamp}-{os.getpid()}-{self._token}-{self._sequence:06d}.parquet"
        file = self.path / name
        write_parquet_atomically(schema.frame(batch), file, self.path / f".{name}.tmp", schema.metadata())
        return file

    def close(self, quiet: bool) -> None:
        """Stop the writer thread (it finishes a write in progress) and flush what remains."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush(quiet)


def _remove_dead_temporaries(path: Path) -> None:
    """Delete the in-flight files of processes that died mid-write (live writers' files are left alone)."""
    if os.name != "posix":  # liveness is probed with signal 0, which only POSIX defines
        return
    for stale in path.glob(f".{_PREFIX}*.parquet.tmp"):
        pid = stale.name.removeprefix(f".{_PREFIX}").split("-")[1]
        if pid.isdigit() and not _alive(int(pid)):
            stale.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True
