"""The stream-log protocol: what a stream worker needs from an append-only event log with consumer groups.

``RedisStream`` (Redis Streams) and ``MemoryStream`` (in process) implement it; a Kafka adapter would too. The
shape is Redis Streams' consumer-group model, which Kafka's maps onto: a group reads each entry once across its
consumers, an entry stays *pending* on the consumer that read it until that consumer acknowledges it, a restarted
consumer re-reads what it left pending, and a live consumer can claim what a dead one left pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, runtime_checkable

from fdag._declare.source import Source

DEAD_LETTER_SUFFIX = ":dead"  # the dead-letter log of stream ``s`` is ``s:dead``

# Fields a dead-letter entry carries besides the original entry's fields.
REASON_FIELD, ENTRY_FIELD, GROUP_FIELD = b"_fdag_reason", b"_fdag_entry", b"_fdag_group"


class Entry(NamedTuple):
    """One entry of a stream log: its id (ordered, e.g. Redis's ``<ms>-<seq>``), its fields, its deliveries.

    ``fields`` alternates names and values (``[name, value, name, value, ...]``, bytes), as Redis Streams
    delivers them and ``XADD`` takes them: a worker decodes a batch straight from these lists, without a dict
    per entry. It is None for an entry that was pending when it was trimmed from the log (its event is gone).
    ``deliveries``: how many times the group has handed the entry to a consumer, this time included (Redis's
    times-delivered); a log reports it for entries read again (own pending ones, claimed ones), 1 otherwise.
    A named tuple: a worker makes one per event, and tuples are the cheapest objects to make.
    """

    id: str
    fields: Sequence[bytes] | None
    deliveries: int = 1

    def mapping(self) -> dict[bytes, bytes]:
        """The fields as a dict, name -> value (empty for a trimmed entry)."""
        flat = self.fields or ()
        return dict(zip(flat[::2], flat[1::2], strict=True))


@dataclass(frozen=True, slots=True)
class Lag:
    """How far a consumer group is behind its log.

    ``entries``: entries not yet delivered to any consumer of the group (None when the log cannot tell, e.g. a
    Redis stream after entries were deleted from its middle). ``seconds``: the age, by the log's clock, of the
    oldest entry the group has not acknowledged (pending or not yet delivered); 0.0 when the group is caught up.
    """

    entries: int | None
    seconds: float


@runtime_checkable
class StreamLog(Protocol):
    """An append-only log of one source's events, read by consumer groups (at-least-once delivery)."""

    @property
    def stream(self) -> str:
        """The log's name (a Redis key, a Kafka topic)."""
        ...

    def publish(self, events: Any, source: Source | None = None) -> list[str]:
        """Append events (a dict, dicts or a frame) in fdag's stream encoding; return their entry ids in order."""
        ...

    def create_group(self, group: str) -> None:
        """Create consumer group ``group`` reading from the log's oldest retained entry, if it does not exist."""
        ...

    def read_group(
        self, group: str, consumer: str, count: int, *, block: float | None = None, pending: bool = False,
        after: str = "0", ack: Sequence[str] = (),
    ) -> list[Entry]:
        """Up to ``count`` entries for ``consumer``, oldest first.

        ``pending=False``: entries never delivered to the group, which become pending on ``consumer``; wait up
        to ``block`` seconds for one when there are none (and return as soon as there are some, however few).
        ``pending=True``: the entries already pending on ``consumer`` (what it read before a crash) with an id
        after ``after``, without waiting, each with its ``deliveries``. ``ack``: ids to acknowledge first, in
        the same round trip (a worker acknowledges one batch with the read of the next).
        """
        ...

    def ack(self, group: str, ids: Sequence[str]) -> None:
        """Acknowledge entries: they are done and no longer pending on anyone."""
        ...

    def claim(self, group: str, consumer: str, min_idle: float, count: int) -> list[Entry]:
        """Take over up to ``count`` entries pending on any consumer for at least ``min_idle`` seconds.

        Each comes with its ``deliveries`` (taking it over counts as one).
        """
        ...

    def pending(self, group: str) -> int:
        """How many entries are pending (delivered, not acknowledged) across the group's consumers."""
        ...

    def lag(self, group: str) -> Lag:
        """How far ``group`` is behind (see ``Lag``)."""
        ...

    def dead_letter(self, group: str, entries: Sequence[tuple[Entry, str]]) -> None:
        """Move malformed entries, each with the reason, to the dead-letter log, and acknowledge them."""
        ...
