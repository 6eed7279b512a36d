"""The events of one source in Redis: ingest, bootstrap and watermark, shared by window and lookup state.

Data model, per source and layout (see ``redis_codec.layout_prefix``), all keys under one hash tag:

- ``<prefix>e:<key>``: a sorted set per entity key; member = the encoded event (``redis_codec``), score =
  its timestamp in µs.
- ``<prefix>t:<key>`` and ``<prefix>i:<key>``: the key's pre-aggregated tiles and their index, and
  ``<prefix>open``: the dense tiles not sealed yet, for window state (``redis_tiles``); lookup state keeps none.
- ``<prefix>ids``: a sorted set of the held event ids scored by timestamp, for idempotent ingest.
- ``<prefix>keys``: a sorted set of the entity sets scored by their newest timestamp, to drop quiet keys.
- ``<prefix>wm``: the watermark (µs, decimal); ``<prefix>seq``: arrival numbers for sources without ids.
- ``<prefix>bounds``: a hash of the oldest timestamp ever accepted and the newest rejected as too late or
  skipped by a bootstrap (µs, decimal): what the state may have lost, so that every process refuses the same
  past queries (``horizon``).

Ingest of a batch is one Lua script (one round trip; no other command runs in between), a large batch
several in order, each sent while the client prepares the next (``_parts``): each applies
MemoryEvents' rules event by event (duplicate id, watermark advance, too late below ``watermark - retention``;
events beyond ``max_future`` are dropped in Python before), updates and seals the tiles, then evicts below the horizon
from the touched keys and the id set, and deletes a bounded number of quiet keys. Re-sending a batch changes
nothing, so redis-py retries it when its connection drops (the reply may be lost after the script ran); the
script orders its writes so that re-sending a batch that failed part-way gives the state a clean ingest would
have (``redis_scripts``). A source without ids is the exception: its events get arrival numbers, so a batch
sent twice is applied twice; its ingest is sent once, never retried.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, Protocol

import polars as pl

from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._stores import redis_scripts
from fdag._stores.event_values import Failures
from fdag._stores.history import History
from fdag._stores.protocol import IngestReport
from fdag._stores.redis_codec import column_types, decoder, encode_rows, encoder, layout_prefix
from fdag._stores.state_config import StateConfig, ValueFunction
from fdag._values.calls import error_records
from fdag._values.instants import EPOCH, MICROSECOND

_CHUNK = 2_000  # bootstrap rows per script call
_CHUNKS_PER_TRIP = 8  # script calls pipelined per round trip
_QUIET_KEYS = 256  # quiet entity sets deleted per batch at most
_PART = 250  # events per ingest script call of a large batch, sent while the next is prepared
_EVENTS_PER_KEY = 2  # a batch with more per key on average (dense keys) is not split
_NO_WATERMARK = -(2**63)


def _parts(checked: list[Any]) -> list[list[Any]]:
    """A checked batch in parts of about ``_PART`` events, each one script call: the server applies one while the
    client prepares the next (on two cores, about the client's time per event is saved). A batch below twice
    ``_PART`` is one part, so a small batch stays one atomic call; so is a batch whose keys repeat (more than
    ``_EVENTS_PER_KEY`` events per key on average), as each part pays its keys' per-key work (counts, tile
    bookkeeping, eviction) again, which costs dense keys more than the overlap saves."""
    count = len(checked) // _PART
    if count < 2 or len(checked) > _EVENTS_PER_KEY * len({event[0] for event in checked}):
        return [checked]  # (no copy: a single event's ingest goes through here)
    return [checked[j * len(checked) // count : (j + 1) * len(checked) // count] for j in range(count)]


class Connection(Protocol):
    """What a state needs of its ``RedisStore``: the namespace, and commands and scripts with its error rules."""

    namespace: str
    client: Any

    def call(self, *command: Any, retry: bool = True) -> Any:
        """Run one command."""
        ...

    def script(self, name: str, text: str, keys: Sequence[Any], args: Sequence[Any], retry: bool = True) -> Any:
        """Run a Lua script."""
        ...

    def pipeline_scripts(
        self, name: str, text: str, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]], retry: bool = True
    ) -> list[Any]:
        """Run a script once per ``(keys, args)`` in one round trip."""
        ...

    def stream_scripts(
        self, name: str, text: str, calls: Iterable[tuple[Sequence[Any], Sequence[Any]]], retry: bool = True
    ) -> list[Any]:
        """Run a script once per ``(keys, args)`` as each is made, reading the replies once all are sent."""
        ...


class RedisEvents(StateConfig):
    """The events of one source kept in Redis with the specs' per-event values: ingest, bootstrap, watermark.

    Ingest applies ``MemoryEvents``' rules (duplicates, ``max_future``, too late below ``watermark - retention``,
    eviction) in one atomic, idempotent script call per batch, which also keeps the ``bounds`` hash and, given a
    ``tiles`` layout (``TilePlan.config``), the tiles current.
    """

    def __init__(
        self, store: Connection, source: Source, specs: Sequence[WindowSpec | LookupSpec],
        columns: tuple[str, ...], values: Mapping[str, ValueFunction], retention: int, tiles: str = "",
        stored_as: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(source, specs, columns, values, retention, stored_as)
        self.store = store
        self.prefix = layout_prefix(store.namespace, source, self.specs, self._retention, tiles, self._stored_as)
        self._roles = [self.prefix + part for part in ("wm", "ids", "keys", "seq", "bounds")]
        self._with_ids = source.id is not None
        self._tiles = tiles
        types = column_types(self.specs, self.columns)
        self._encoders = [encoder(ftype) for ftype in types]
        self._decoders = [(j, convert) for j, ftype in enumerate(types) if (convert := decoder(ftype)) is not None]
        self._native = not any(self._encoders)
        width = len(self.columns)
        # Positions of the value columns in a decoded row: after (ts, id), or after ts and before seq.
        self._value_slice = slice(2, 2 + width) if self._with_ids else slice(1, 1 + width)
        self._tie_order = itemgetter(0, 1) if self._with_ids else itemgetter(0, -1)

    @property
    def watermark(self) -> datetime | None:
        """The largest event timestamp ingested by any process (UTC), or None before the first event."""
        raw = self.store.call("GET", self._roles[0])
        return EPOCH + int(raw) * MICROSECOND if raw else None

    @property
    def held(self) -> int:
        """How many events the state holds across all keys, whichever process ingested them (one script call)."""
        return int(self.store.call("EVAL", redis_scripts.HELD, 1, self._roles[2]))

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> IngestReport:
        """Apply a batch of events in one round trip, idempotent by id; validated first, all or nothing.

        Duplicate ids (held, or earlier in the batch), events older than the retention horizon and events
        beyond ``max_future`` (dropped here, before the script) are counted and not applied, exactly as
        ``MemoryEvents.ingest`` does. A batch is one atomic script call; a large one is several, in order, each
        sent while the next is prepared (``_parts``), with the same outcome. A batch whose reply was lost is re-sent
        (a source with ids; the report then counts the applied events as duplicates); without ids it is not, and
        the ``StoreError`` leaves it unknown whether the batch was applied, or which part of it.
        """
        checked = self._checker.check(events)
        if not checked:
            return IngestReport()
        failures: Failures = []
        future = 0  # events beyond max_future, dropped here, before the script
        cutoff = self._checker.future_cutoff()
        parts = _parts(checked)

        def calls() -> Iterator[tuple[list[Any], list[Any]]]:
            nonlocal future
            for j, part in enumerate(parts):
                last = j == len(parts) - 1
                keys_: Sequence[Any]
                stamps: Sequence[int]
                ids: Sequence[Any]
                keys_, stamps, ids, given = zip(*part, strict=True)
                columns = self._values.batch(given, failures)  # errors count every event given, as MemoryEvents
                if max(stamps) > cutoff:
                    kept = [e for e, ts in enumerate(stamps) if ts <= cutoff]
                    future += len(stamps) - len(kept)
                    if not kept and (len(parts) == 1 or not last):  # (the last of several forgets old ids)
                        continue
                    keys_, stamps, ids = ([part_[e] for e in kept] for part_ in (keys_, stamps, ids))
                    columns = [[column[e] for e in kept] for column in columns]
                yield self._ingest_call(keys_, stamps, ids, columns, last)

        # Retried only when idempotent: by ids, held ones count as duplicates the second time.
        if len(parts) == 1:  # by its SHA: the text goes only to a server that lacks it
            replies = [self.store.script("ingest", redis_scripts.INGEST, *call, retry=self._with_ids)
                       for call in calls()]
        else:
            replies = self.store.stream_scripts("ingest", redis_scripts.INGEST, calls(), retry=self._with_ids)
        accepted, duplicates, late = (sum(counts) for counts in zip(*replies, strict=True)) if replies else (0, 0, 0)
        return IngestReport(accepted, duplicates, late, future, error_records(failures))

    def _ingest_call(self, keys_: Sequence[Any], stamps: Sequence[int], ids: Sequence[Any],
                     columns: list[list[Any]], last: bool) -> tuple[list[Any], list[Any]]:
        """The ingest script's KEYS and ARGV for events given as their keys, timestamps, ids and value columns, the
        ``last`` part of their batch or not: the ids the horizon passes are forgotten only after the last, so that a
        later copy of one in the same batch is a duplicate, as in one call (then a part's horizon is not the
        batch's: its evictions of events stay behind until the key's next batch, which no query can see)."""
        if not self._native:
            columns = [column if f is None else list(map(f, column)) for f, column in zip(self._encoders, columns,
                                                                                       strict=True)]
        positions = {key: position for position, key in enumerate(dict.fromkeys(keys_), len(self._roles) + 1)}
        keys = [*self._roles, *map(self._key_name, positions)]
        members = encode_rows([stamps, ids, *columns] if self._with_ids else [stamps, *columns])
        with_ids = ("1" if last else "2") if self._with_ids else "0"
        head = [self._retention, "", with_ids, _QUIET_KEYS, "", self._tiles]
        return keys, self._arguments(head, list(map(positions.__getitem__, keys_)), ids, members)

    def bootstrap(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> IngestReport:
        """Load a history frame in pipelined chunks, with ``MemoryEvents.bootstrap``'s rules.

        The horizon is fixed up front from ``max(watermark, newest row)``: older rows are ``too_late``,
        rows whose id is held are ``duplicates`` (the earliest copy wins within the frame).
        """
        return self.load(self.prepare(frame, values))

    def load(self, history: History) -> IngestReport:
        """Send a history this state ``prepare``d (the second half of ``bootstrap``)."""
        stored = self.store.call("GET", self._roles[0])
        top = max(int(stored) if stored else _NO_WATERMARK, history.latest)
        loaded = history.filter(top - self._retention if top != _NO_WATERMARK else _NO_WATERMARK, None)
        columns = [column if convert is None else [convert(v) for v in column]
                   for convert, column in zip(self._encoders, loaded.values, strict=True)]
        ids = loaded.ids if self._with_ids and loaded.ids is not None else [""] * len(loaded.ts)
        members = encode_rows([loaded.ts, ids, *columns] if self._with_ids else [loaded.ts, *columns])
        skipped = "" if loaded.newest_late is None else loaded.newest_late  # dropped before the script
        head = [self._retention, top if top != _NO_WATERMARK else "", int(self._with_ids), _QUIET_KEYS, skipped,
                self._tiles]
        calls: list[tuple[list[Any], list[Any]]] = []
        positions: list[int]
        rows: list[int]
        keys, positions, rows = list(self._roles), [], []  # rows: the history's rows of the call
        for key, start, end in loaded.groups:
            while start < end:  # a hot key spans calls (each names it once): no script runs long
                keys.append(self._key_name(key))
                take = min(end - start, _CHUNK - len(rows))
                positions += [len(keys)] * take
                rows += range(start, start + take)
                start += take
                if len(rows) == _CHUNK:
                    calls.append((keys, self._arguments(head, positions, [ids[r] for r in rows],
                                                        [members[r] for r in rows])))
                    keys, positions, rows = list(self._roles), [], []
        calls.append((keys, self._arguments(head, positions, [ids[r] for r in rows], [members[r] for r in rows])))
        accepted, duplicates, late = 0, history.duplicates, loaded.too_late
        for first in range(0, len(calls), _CHUNKS_PER_TRIP):
            trip = calls[first : first + _CHUNKS_PER_TRIP]
            for a, d, t in self.store.pipeline_scripts("ingest", redis_scripts.INGEST, trip, retry=self._with_ids):
                accepted, duplicates, late = accepted + a, duplicates + d, late + t
        return IngestReport(accepted, duplicates, late, history.future, history.errors)

    def _arguments(self, head: list[Any], positions: list[int], ids: Sequence[Any], members: list[str]) -> list[Any]:
        """The ingest script's ARGV (``redis_scripts.INGEST``): ``head``, each event's position in KEYS and its
        member's length packed into one argument, the members joined (ASCII: ``encode_json`` escapes the rest, so
        a length in characters is one in bytes), then each event's id (a source with ids)."""
        pairs = [0] * 2 * len(positions)
        pairs[::2] = positions
        pairs[1::2] = map(len, members)
        args = [*head, struct.pack(f"<{len(pairs)}I", *pairs), "".join(members)]
        return args + list(ids) if self._with_ids else args

    def _key_name(self, key: Any) -> str:
        """The Redis key of one entity's events."""
        return f"{self.prefix}e:{key}"

    def __repr__(self) -> str:
        specs = [spec.node for spec in self.specs]
        return f"{type(self).__name__}({self.source.name!r}, specs={specs}, prefix={self.prefix!r})"
