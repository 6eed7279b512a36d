"""``RedisLookupState``: lookup state in Redis, every row kept; values equal ``MemoryLookupState``'s.

Lookup state has the layout of window state (``redis_events``) with nothing evicted or too late (``KEEP_ALL``)
and no tiles, so it is always complete and its query reads no bounds: one script call returning, per lag, the
rows at the newest timestamp at or before ``as_of - lag``, and the watermark; ``lookup_query`` turns them into
values.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from fdag._dag.specs import LookupSpec
from fdag._declare.source import Source
from fdag._stores import redis_scripts
from fdag._stores.lookup_query import LookupQuery, Row
from fdag._stores.redis_events import Connection, RedisEvents
from fdag._stores.redis_tiles import SAFE
from fdag._stores.state_config import KEEP_ALL, ValueFunction
from fdag._values.instants import micros


class RedisLookupState(RedisEvents):
    """Lookup state of one source for fixed specs, kept whole in Redis; values equal ``MemoryLookupState``'s.

    Example::

        state = fdag.RedisStore(url).lookup_state(balances, specs, {"__lookup__balance_then": lambda r: r["balance"]})
        state.ingest([{"user_id": "u1", "ts": midnight, "balance": 20.0}])
        values, as_ofs = state.query("u1", as_of)
    """

    def __init__(
        self, store: Connection, source: Source, specs: Sequence[LookupSpec], values: Mapping[str, ValueFunction]
    ) -> None:
        self._query = LookupQuery(specs)
        super().__init__(store, source, specs, self._query.columns, values, KEEP_ALL)

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], list[datetime | None]]:
        """The specs' values for ``key`` at ``as_of`` and each value's as-of: one round trip."""
        t = micros(as_of)
        rows, watermark = self._newest_rows(key, t)
        return self._query.answer(rows, t, watermark)

    def newest(self, key: Any, as_of: datetime) -> tuple[list[Row], int | None]:
        """The key's newest row at ``as_of - lag`` per lag (aligned with ``LookupQuery.lags``), and the watermark
        (µs, None before any row): one round trip."""
        return self._newest_rows(key, micros(as_of))

    def _newest_rows(self, key: Any, t: int) -> tuple[list[Row], int | None]:
        cutoffs = self._query.cutoffs(t)
        rounded = not all(-SAFE < cutoff < SAFE for cutoff in cutoffs)
        reply = self.store.script("lookup", redis_scripts.LOOKUP, (self._key_name(key), self._roles[0]),
                                  (int(rounded), *cutoffs))
        raw_watermark = reply.pop()
        watermark = int(raw_watermark) if raw_watermark else None
        rows: list[Row] = []
        at = 0
        for cutoff in cutoffs:
            count = reply[at]
            candidates = reply[at + 1 : at + 1 + count]
            at += 1 + count
            rows.append(self._newest(candidates, cutoff) if candidates else None)
        return rows, watermark

    def _newest(self, members: list[bytes], cutoff: int) -> Row:
        """The newest of the fetched rows with timestamp <= ``cutoff``, by (timestamp, id or arrival)."""
        decoded = [row for row in json.loads(b"[[" + b"],[".join(members) + b"]]") if row[0] <= cutoff]
        if not decoded:
            return None
        row = max(decoded, key=self._tie_order)
        values = row[self._value_slice]
        for j, convert in self._decoders:
            values[j] = convert(values[j])
        return row[0], values, row[1] if self._with_ids else None
