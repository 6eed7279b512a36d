"""The ids a memory state remembers for deduplication, split by hash over many small dicts.

One dict of millions of ids rehashes every one of them whenever it grows, and again under steady churn (ids
forgotten as their events leave the horizon, new ones remembered) whenever its deleted slots run out: the one
ingest that triggers it stalls the whole state (a dict growing to 2.8M ids: 435 ms for one insert on this kind
of machine; at a steady 3M under churn, 700 ms). Split over ``SHARDS`` dicts, a rehash moves a 256th of the ids,
so no single ingest pays more than a few milliseconds — the same total work, and one more index per lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

SHARDS = 256  # a power of two: an id's shard is 8 bits of its hash
SHARD_MASK = SHARDS - 1
# The bits above the lowest 12: consecutive int ids (an int's hash is itself) share a shard 4,096 at a time, so
# sequential ids fill one dict in order, as a single dict would (by the lowest bits they would scatter over every
# shard and its table: 3x slower to remember and forget); ids with random hashes (strings) spread alike either way.
SHARD_SHIFT = 12


class SeenIds:
    """id -> timestamp (µs) of the id's first accepted copy, as one dict would map them.

    The batch ingest loop computes ``shard_of`` inline (no method call per event); everything else calls it.
    """

    __slots__ = ("shards",)

    def __init__(self) -> None:
        self.shards: list[dict[Any, int]] = [{} for _ in range(SHARDS)]

    def shard_of(self, event_id: Any) -> dict[Any, int]:
        """The dict that holds ``event_id`` if it is remembered (where to remember it otherwise)."""
        return self.shards[hash(event_id) >> SHARD_SHIFT & SHARD_MASK]

    def get(self, event_id: Any) -> int | None:
        """The timestamp remembered for ``event_id``, or None."""
        return self.shard_of(event_id).get(event_id)

    def forget(self, event_id: Any) -> None:
        """Forget ``event_id`` (which must be remembered)."""
        del self.shard_of(event_id)[event_id]

    def update(self, pairs: Iterable[tuple[Any, int]]) -> None:
        """Remember each (id, timestamp), a later pair replacing an earlier one, as ``dict.update`` does."""
        for event_id, ts in pairs:
            self.shard_of(event_id)[event_id] = ts

    def items(self) -> Iterator[tuple[Any, int]]:
        """Every remembered (id, timestamp), shard by shard."""
        for shard in self.shards:
            yield from shard.items()

    def __len__(self) -> int:
        return sum(map(len, self.shards))
