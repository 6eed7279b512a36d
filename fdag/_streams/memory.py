"""``MemoryStream``: the stream log in process, with Redis Streams' consumer-group rules, for tests and examples.

It keeps every entry (no trimming) and, per group, the position of the next undelivered entry and the pending
entries (who holds each, since when). Thread-safe: several workers of one process may share it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fdag._declare.source import Source
from fdag._streams.encoding import encode_events
from fdag._streams.log import ENTRY_FIELD, GROUP_FIELD, REASON_FIELD, Entry, Lag
from fdag.errors import StoreError


@dataclass
class _Group:
    delivered: int = 0  # entries [0, delivered) were delivered to some consumer
    # id -> (consumer, delivered at, deliveries)
    pending: dict[str, tuple[str, float, int]] = field(default_factory=dict)


class MemoryStream:
    """An in-process ``StreamLog``: what ``RedisStream`` does, without a server.

    Example::

        from datetime import datetime

        import fdag
        from fdag.demo import fraud

        log = fdag.MemoryStream("transactions", source=fraud.transactions)
        log.publish({"txn_id": "t1", "user_id": "u1", "ts": datetime(2024, 3, 1, 10), "amount": 20.0,
                     "merchant": "m1"})
        log.create_group("features")
        print([entry.mapping() for entry in log.read_group("features", "w1", 10)])
        # [{b'txn_id': b'"t1"', b'user_id': b'"u1"', b'ts': b'1709287200000000', b'amount': b'20.0', ...}]
    """

    def __init__(self, stream: str = "events", *, source: Source | None = None) -> None:
        self._stream = stream
        self.source = source
        self._entries: list[Entry] = []
        self._position: dict[str, int] = {}
        self._groups: dict[str, _Group] = {}
        self._dead: list[Entry] = []
        self._last = (0, -1)  # (ms, seq) of the newest id: ids grow strictly, like Redis's
        self._changed = threading.Condition()

    @property
    def stream(self) -> str:
        """The log's name."""
        return self._stream

    def publish(self, events: Any, source: Source | None = None) -> list[str]:
        """Append events in fdag's stream encoding (typed by ``source`` or the log's); return their ids."""
        encoded = encode_events(events, source or self.source)
        return [self.append(fields) for fields in encoded]

    def append(self, fields: Mapping[str, str | bytes]) -> str:
        """Append one entry with ``fields`` as given (strings are stored UTF-8 encoded, as Redis would)."""
        raw = [_bytes(part) for pair in fields.items() for part in pair]
        with self._changed:
            entry = Entry(self._next_id(), raw)
            self._position[entry.id] = len(self._entries)
            self._entries.append(entry)
            self._changed.notify_all()
        return entry.id

    def create_group(self, group: str) -> None:
        """Create ``group`` at the log's start, unless it exists."""
        with self._changed:
            self._groups.setdefault(group, _Group())

    def read_group(
        self, group: str, consumer: str, count: int, *, block: float | None = None, pending: bool = False,
        after: str = "0", ack: Sequence[str] = (),
    ) -> list[Entry]:
        """New entries for ``consumer`` (waiting up to ``block`` s for one), or with ``pending`` its own after
        id ``after``; ``ack``: acknowledge these first."""
        with self._changed:
            state = self._group(group)
            for entry_id in ack:
                state.pending.pop(entry_id, None)
            now = time.monotonic()
            if pending:
                start = self._position.get(after, -1)
                own = [entry_id for entry_id, (holder, _, _) in state.pending.items()
                       if holder == consumer and self._position[entry_id] > start]
                return [self._deliver(state, entry_id, consumer, now)
                        for entry_id in sorted(own, key=self._position.__getitem__)[:count]]
            if block and state.delivered == len(self._entries):
                self._changed.wait_for(lambda: state.delivered < len(self._entries), timeout=block)
            entries = self._entries[state.delivered : state.delivered + count]
            state.delivered += len(entries)
            for entry in entries:
                state.pending[entry.id] = (consumer, now, 1)
            return entries

    def ack(self, group: str, ids: Sequence[str]) -> None:
        """The entries are done: no longer pending."""
        with self._changed:
            state = self._group(group)
            for entry_id in ids:
                state.pending.pop(entry_id, None)

    def claim(self, group: str, consumer: str, min_idle: float, count: int) -> list[Entry]:
        """Take over up to ``count`` entries pending on any consumer for ``min_idle`` s or more, oldest first."""
        with self._changed:
            state = self._group(group)
            now = time.monotonic()
            idle = sorted((i for i, (_, since, _) in state.pending.items() if now - since >= min_idle),
                          key=self._position.__getitem__)[:count]
            return [self._deliver(state, entry_id, consumer, now) for entry_id in idle]

    def pending(self, group: str) -> int:
        """Entries delivered to the group and not acknowledged."""
        with self._changed:
            return len(self._group(group).pending)

    def lag(self, group: str) -> Lag:
        """Undelivered entries, and the age of the oldest entry not acknowledged."""
        with self._changed:
            state = self._group(group)
            waiting = [self._position[i] for i in state.pending]
            if state.delivered < len(self._entries):
                waiting.append(state.delivered)
            oldest = min(waiting, default=None)
            age = 0.0 if oldest is None else max(0.0, time.time() - _millis(self._entries[oldest].id) / 1000)
            return Lag(len(self._entries) - state.delivered, age)

    def dead_letter(self, group: str, entries: Sequence[tuple[Entry, str]]) -> None:
        """Keep each entry with its reason among the dead letters, and acknowledge it."""
        with self._changed:
            for entry, reason in entries:
                fields = {**entry.mapping(), REASON_FIELD: reason.encode(), ENTRY_FIELD: entry.id.encode(),
                          GROUP_FIELD: group.encode()}
                self._dead.append(Entry(self._next_id(), [part for pair in fields.items() for part in pair]))
            state = self._group(group)
            for entry, _ in entries:
                state.pending.pop(entry.id, None)

    def dead_letters(self, count: int | None = None) -> list[Entry]:
        """The dead-letter entries, oldest first (each holds the original fields and ``_fdag_reason``)."""
        with self._changed:
            return list(self._dead[:count])

    def __len__(self) -> int:
        return len(self._entries)

    def _deliver(self, state: _Group, entry_id: str, consumer: str, now: float) -> Entry:
        """Hand a pending entry to ``consumer`` once more (under the lock): it counts as a delivery."""
        deliveries = state.pending[entry_id][2] + 1
        state.pending[entry_id] = (consumer, now, deliveries)
        return self._entries[self._position[entry_id]]._replace(deliveries=deliveries)

    def _group(self, group: str) -> _Group:
        try:
            return self._groups[group]
        except KeyError:
            raise StoreError(f"stream {self._stream!r}", f"has no consumer group {group!r}",
                             "create it with create_group (a worker does) or check the group name") from None

    def _next_id(self) -> str:
        ms = time.time_ns() // 1_000_000
        last_ms, last_seq = self._last
        self._last = (ms, 0) if ms > last_ms else (last_ms, last_seq + 1)
        return f"{self._last[0]}-{self._last[1]}"

    def __repr__(self) -> str:
        return f"MemoryStream({self._stream!r}, entries={len(self._entries)})"


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _millis(entry_id: str) -> int:
    return int(entry_id.split("-")[0])
