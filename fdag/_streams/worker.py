"""``StreamWorker``: feeds one source's events from a stream log into window state, batch by batch.

Delivery is at-least-once: read a batch in the consumer group, ingest it, then acknowledge it. A crash between
the ingest and the acknowledgement leaves the batch pending; the restarted consumer (same name) re-reads its
pending entries before anything new, and a live consumer claims entries that stayed pending on another one for
``claim_after`` seconds. Ingest ignores events whose id it already holds, so with ids the effect is exactly-once.
While one batch is ingested, a reader thread already reads and decodes the next, and acknowledges the batch
before in the same round trip: a worker holds at most two batches at a time, and a stopped worker finishes both.

An entry read again and again without being acknowledged (ingesting it kills the worker each time) is a poison
entry: from its third delivery on it is ingested alone, and once delivered more than ``max_deliveries`` times it
goes to the dead letters unread by ingest, so that it neither loops forever nor takes other entries with it.

The worker knows nothing of the row engine: it is given the source (to decode entries) and two callables,
``ingest(events) -> report`` and ``validate(events)`` (raises ``SourceError`` where ``ingest`` would).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NamedTuple

from fdag._declare.source import Source
from fdag._streams.encoding import EventDecoder
from fdag._streams.log import Entry, StreamLog
from fdag.errors import FdagError, InputError, SourceError, with_hint

Events = list[Mapping[str, Any]]

_BLOCK = 0.5  # seconds one read waits for new entries: bounds how long stop() takes when the stream is idle
# From this delivery on an entry read again is handled alone: it was already re-read once and is still not
# acknowledged, so it may be what kills the worker, and its neighbours should not be delivered with it again.
_ALONE_FROM = 3
_COUNTERS = ("read", "applied", "duplicates", "too_late", "future", "dead_lettered", "recovered", "claimed",
             "trimmed")


class _Batch(NamedTuple):
    """Entries as read; the decoded ones and their events; those set aside, with the reason; the trimmed ids.

    ``alone``: a suspect entry read by itself; nothing is read ahead while it is handled.
    """

    entries: list[Entry]
    good: list[Entry]
    events: Events
    bad: list[tuple[Entry, str]]
    gone: list[str]
    alone: bool


@dataclass(frozen=True)
class WorkerStats:
    """What a worker has done since it was made, and where its group stands.

    ``read``: entries handled (each is then applied, a duplicate, too late, in the future or dead-lettered);
    ``recovered``: of those, entries this consumer had left pending (re-read at start); ``claimed``: entries
    taken over from other consumers; ``trimmed``: pending entries gone from the log (acknowledged, lost).
    ``pending``, ``lag`` and ``lag_seconds`` are the group's, asked of the log (see ``Lag``); ``last_id``
    is the last entry this worker acknowledged.
    """

    read: int = 0
    applied: int = 0
    duplicates: int = 0
    too_late: int = 0
    future: int = 0
    dead_lettered: int = 0
    recovered: int = 0
    claimed: int = 0
    trimmed: int = 0
    pending: int = 0
    lag: int | None = 0
    lag_seconds: float = 0.0
    last_id: str | None = None


class StreamWorker:
    """Reads ``source``'s entries from ``log`` as ``consumer`` of ``group`` and ingests them, until stopped.

    Made by ``RowDriver.consume``; creates the group (from the log's start) if it does not exist.

    Example::

        worker = row.consume("payments", log, group="features", consumer="w1", batch=1000)
        worker.run(timeout=10.0)      # or run() until worker.stop() is called from elsewhere
        worker.stats.applied, worker.stats.lag
    """

    def __init__(
        self,
        source: Source,
        log: StreamLog,
        ingest: Callable[[Events], Any],
        validate: Callable[[Events], None],
        *,
        group: str,
        consumer: str,
        batch: int = 1000,
        claim_after: float = 30.0,
        max_deliveries: int = 5,
    ) -> None:
        if batch < 1:
            raise InputError("batch", f"is {batch}", "read at least one entry per batch (default 1000)")
        if not claim_after > 0:
            raise InputError("claim_after", f"is {claim_after}", "give the seconds an entry may stay pending "
                             "on a silent consumer before another one takes it over (default 30)")
        if max_deliveries < _ALONE_FROM:
            raise InputError("max_deliveries", f"is {max_deliveries}",
                             f"allow at least {_ALONE_FROM} deliveries of an entry before it is dead-lettered "
                             "(default 5): an entry read again after a crash with others gets up to "
                             f"{_ALONE_FROM} before it is handled alone")
        self.source = source
        self.log = log
        self.group = group
        self.consumer = consumer
        self.batch = batch
        self.claim_after = claim_after
        self.max_deliveries = max_deliveries
        self._ingest = ingest
        self._validate = validate
        self._decoder = EventDecoder(source)
        self._counts = dict.fromkeys(_COUNTERS, 0)
        self._last_id: str | None = None
        self._stop = threading.Event()
        self._recovering = True  # own pending entries first, then new ones
        self._recovered_to = "0"
        self._claim_every = max(claim_after / 2, 0.05)
        self._next_claim = 0.0
        self._in_hand: list[Entry] = []  # the batch being handled while the next one is read
        log.create_group(group)

    def run(self, max_events: int | None = None, timeout: float | None = None) -> WorkerStats:
        """Handle entries until ``max_events`` were read, ``timeout`` seconds passed, or ``stop()`` was called.

        Without either limit it runs until stopped. The batch in hand is always finished and acknowledged
        before returning. Returns ``stats``.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        handled = 0
        done: list[str] = []  # ingested, not yet acknowledged: acknowledged with the next read, or at the end
        # One thread reads (and decodes) the next batch while this one ingests: the read's round trip and the
        # server's work on it overlap the ingest instead of adding to it.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="fdag-stream-reader") as reader:
            try:
                ahead = self._read_ahead(reader, max_events, handled, deadline, done)
                while ahead is not None:
                    batch = ahead.result()
                    if batch is None:
                        break
                    handled += len(batch.entries)
                    self._in_hand = batch.entries
                    # A suspect entry is handled before anything else is read: a crash must not take others along.
                    ahead = None if batch.alone else self._read_ahead(reader, max_events, handled, deadline, done)
                    if ahead is not None:
                        done = []  # the read acknowledges them
                    if batch.entries:
                        done += self._handle(batch)
                    if batch.alone:
                        ahead = self._read_ahead(reader, max_events, handled, deadline, done)
                        if ahead is not None:
                            done = []
            except BaseException:
                if done:  # ingested: acknowledge them if the log still answers, else they are re-read later
                    with contextlib.suppress(FdagError):
                        self.log.ack(self.group, done)
                raise
        if done:
            self.log.ack(self.group, done)
        return self.stats

    def stop(self) -> None:
        """Make ``run`` return once the batch in hand is acknowledged (callable from any thread or a signal handler).

        A stopped worker stays stopped.
        """
        self._stop.set()

    @property
    def stopped(self) -> bool:
        """Whether ``stop()`` was called."""
        return self._stop.is_set()

    @property
    def stats(self) -> WorkerStats:
        """This worker's counts, with the group's pending entries and lag as the log reports them now."""
        lag = self.log.lag(self.group)
        return WorkerStats(**self._counts, pending=self.log.pending(self.group), lag=lag.entries,
                           lag_seconds=lag.seconds, last_id=self._last_id)

    def _read_ahead(
        self, reader: ThreadPoolExecutor, max_events: int | None, handled: int, deadline: float | None,
        done: list[str],
    ) -> Future[_Batch | None] | None:
        """Start reading the next batch, acknowledging ``done`` with it, unless the run is over (stopped,
        ``max_events`` read, past ``deadline``; then ``done`` is left to the caller).

        A batch read before ``stop()`` was called is in hand: the run handles it before returning.
        """
        count = self.batch if max_events is None else min(self.batch, max_events - handled)
        if count <= 0 or self._stop.is_set() or (deadline is not None and time.monotonic() >= deadline):
            return None
        # Wait until the reader runs: else it starts only when this thread next releases the interpreter lock
        # (in the ingest's round trip), and its read then waits in the server behind that ingest's script
        # instead of being served while this thread prepares the ingest.
        started = threading.Event()
        ahead = reader.submit(self._fetch, count, deadline, done, started)
        started.wait()
        return ahead

    def _fetch(self, count: int, deadline: float | None, done: list[str], started: threading.Event) -> _Batch | None:
        """Set ``started``, acknowledge ``done`` and read the next batch, decoded (None: the deadline passed before
        a read could wait)."""
        started.set()
        entries = self._next(count, deadline, done)
        if entries is None:
            return None
        gone = [entry.id for entry in entries if entry.fields is None]
        limit = self.max_deliveries
        spent = [(entry, self._poison_reason(entry)) for entry in entries
                 if entry.deliveries > limit and entry.fields is not None]
        readable = [entry for entry in entries if entry.fields is not None and entry.deliveries <= limit]
        good, events, bad = self._decoder.decode(readable) if gone or spent else self._decoder.decode(entries)
        if spent:
            order = {entry.id: position for position, entry in enumerate(entries)}
            bad = sorted(bad + spent, key=lambda pair: order[pair[0].id])  # dead letters keep the stream's order
        alone = len(entries) == 1 and entries[0].deliveries >= _ALONE_FROM
        return _Batch(entries, good, events, bad, gone, alone)

    def _next(self, count: int, deadline: float | None, done: list[str]) -> list[Entry] | None:
        """The next batch: own pending entries, then entries claimed from silent consumers, then new ones;
        ``done`` is acknowledged first, in the same round trip as the read where it can be.

        An entry read again that was delivered twice before comes alone (see ``_again``). None when ``deadline``
        passed before a read could wait for new entries.
        """
        log, group, consumer = self.log, self.group, self.consumer
        if self._recovering:
            entries = self._again(lambda n, ack, after: log.read_group(group, consumer, n, pending=True,
                                                                       after=after, ack=ack),
                                  count, done, self._recovered_to)
            done = []
            if entries:
                self._counts["recovered"] += len(entries)
                self._recovered_to = entries[-1].id  # the batch before may still be in hand, not acknowledged
                return entries
            self._recovering = False
        now = time.monotonic()
        if now >= self._next_claim:
            if done:
                log.ack(group, done)
                done = []
            entries = self._again(lambda n, ack, after: log.claim(group, consumer, self.claim_after, n), count, [])
            if entries and self._in_hand:  # its own entries in hand may be idle long enough to be claimed
                held = {entry.id for entry in self._in_hand}
                entries = [entry for entry in entries if entry.id not in held]
            # A full batch (or a suspect entry, claimed alone) may have more behind it: claim again next time.
            if len(entries) < count and not (entries and entries[0].deliveries >= _ALONE_FROM):
                self._next_claim = now + self._claim_every
            if entries:
                self._counts["claimed"] += len(entries)
                return entries
        wait = min(_BLOCK, self._next_claim - now)
        if deadline is not None:
            if deadline <= now:
                if done:
                    log.ack(group, done)
                return None
            wait = min(wait, deadline - now)
        return log.read_group(group, consumer, count, block=max(wait, 0.001), ack=done)

    @staticmethod
    def _again(
        read: Callable[[int, list[str], str], list[Entry]], count: int, done: list[str], after: str = "0"
    ) -> list[Entry]:
        """Entries read again (``read(count, ack, after)``): the first alone, to see how often it was delivered;
        if it was delivered twice before it stays alone, else the rest of the batch follows."""
        first = read(1, done, after)
        if not first or count == 1 or first[0].deliveries >= _ALONE_FROM:
            return first
        return first + read(count - 1, [], first[0].id)

    def _poison_reason(self, entry: Entry) -> str:
        """Why an entry delivered more than ``max_deliveries`` times goes to the dead letters."""
        return with_hint(f"entry {entry.id} of source '{self.source.name}' was delivered {entry.deliveries} times "
                         f"(max_deliveries={self.max_deliveries}) and never acknowledged: ingesting it failed or "
                         "ended the worker each time", "find out why from the worker's log, fix it, then publish "
                         "the event again")

    def _handle(self, batch: _Batch) -> list[str]:
        """Ingest a batch, dead-letter what is malformed; count it all; return the ids to acknowledge."""
        entries, good, events, bad, gone, _ = batch
        try:
            report = self._ingest(events) if events else None
        except SourceError:
            # Some event breaks the batch: find each one, set it aside with its reason, ingest the rest.
            good, events, rejected = self._screen(good, events)
            order = {entry.id: position for position, entry in enumerate(entries)}
            bad = sorted(bad + rejected, key=lambda pair: order[pair[0].id])  # dead letters keep the stream's order
            report = self._ingest(events) if events else None
        if bad:
            self.log.dead_letter(self.group, bad)
        counts = self._counts
        counts["read"] += len(entries)
        counts["dead_lettered"] += len(bad)
        counts["trimmed"] += len(gone)
        if report is not None:
            counts["applied"] += report.accepted
            counts["duplicates"] += report.duplicates
            counts["too_late"] += report.too_late
            counts["future"] += getattr(report, "future", 0)
        self._last_id = entries[-1].id
        return [entry.id for entry in good] + gone

    def _screen(self, good: list[Entry], events: Events) -> tuple[list[Entry], Events, list[tuple[Entry, str]]]:
        """Split decoded entries into those ingest accepts and those it rejects, with the reason, one by one."""
        kept: list[Entry] = []
        accepted: Events = []
        rejected = []
        for entry, event in zip(good, events, strict=True):
            try:
                self._validate([event])
            except SourceError as exc:
                # The message names the event's position in a batch of one; the entry id says more.
                rejected.append((entry, f"entry {entry.id} of {str(exc).replace(' event 0:', ':', 1)}"))
            else:
                kept.append(entry)
                accepted.append(event)
        return kept, accepted, rejected

    def __repr__(self) -> str:
        return (f"StreamWorker({self.source.name!r}, stream={self.log.stream!r}, group={self.group!r}, "
                f"consumer={self.consumer!r})")
