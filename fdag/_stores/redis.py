"""``RedisStore``: online window and lookup state in a Redis server, shared by every process using the same url.

Data model, per source and layout (see ``_redis_codec.layout_prefix``), all keys under one hash tag:

- ``<prefix>e:<key>``: a sorted set per entity key; member = the encoded event (``_redis_codec``), score =
  its timestamp in µs. A query fetches the longest window's range of one such set.
- ``<prefix>ids``: a sorted set of the held event ids scored by timestamp, for idempotent ingest.
- ``<prefix>keys``: a sorted set of the entity sets scored by their newest timestamp, to drop quiet keys.
- ``<prefix>wm``: the watermark (µs, decimal); ``<prefix>seq``: arrival numbers for sources without ids.
- ``<prefix>bounds``: a hash of the oldest timestamp ever accepted and the newest rejected as too late or
  skipped by a bootstrap (µs, decimal): what the state may have lost, so that every process refuses the same
  past queries (``horizon``).

Ingest of a batch is one Lua script (one round trip; no other command runs in between): it applies
MemoryEvents' rules event by event (duplicate id, watermark advance, too late below ``watermark - retention``;
events beyond ``max_future`` are dropped in Python before), then evicts below the horizon from the touched keys
and the id set, and deletes a bounded number of quiet keys. Re-sending a batch changes nothing, so redis-py
retries it when its connection drops (the reply may be lost after the script ran). Redis does not roll back a
script that fails part-way: the script checks what can fail before its first write and orders its writes so that
re-sending a batch that failed gives the state a clean ingest would have.
A source without ids is the exception: its events get arrival numbers, so a batch sent twice is applied twice;
its ingest is sent once, never retried. A query is one script call returning the key's events in the longest
window, the watermark and the bounds; the values are computed here with the shared query plan of every store
(``query``).

Lookup state has the same layout with nothing evicted or too late (``KEEP_ALL``), so it is always complete and
its query reads no bounds: one script call returning, per lag, the rows at the newest timestamp at or before
``as_of - lag``, and the watermark; ``lookup_query`` turns them into values.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter, lt
from typing import Any

import polars as pl

from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._stores.event_values import EventValues, Failures
from fdag._stores.events import EventChecker
from fdag._stores.history import History, prepare_history
from fdag._stores.horizon import NEVER, NO_EVENT, answerable_from, complete_from, truncated
from fdag._stores.lookup_query import LookupQuery, Row
from fdag._stores.memory import KEEP_ALL, _check_specs
from fdag._stores.protocol import HeldEvent, IngestReport
from fdag._stores.query import WindowQuery
from fdag._stores.redis_codec import column_types, decoder, encode_json, encoder, layout_prefix
from fdag._values.calls import error_records
from fdag._values.instants import EPOCH, MICROSECOND, micros
from fdag.errors import MissingDependencyError, StoreError

ValueFunction = Callable[[Mapping[str, Any]], Any]

_CHUNK = 2_000  # bootstrap rows per script call
_CHUNKS_PER_TRIP = 8  # script calls pipelined per round trip
_QUIET_KEYS = 256  # quiet entity sets deleted per batch at most
_NO_WATERMARK = -(2**63)
_SAFE_SCORE = 2**53  # |µs| below this is exact as a Redis score (a float64), i.e. until the year 2255
# Retries of a command whose connection dropped or timed out: after 20 ms, then 40 ms (a blip, not an outage).
_RETRIES = 2
_BACKOFF_BASE, _BACKOFF_CAP = 0.01, 0.1

# A script's writes are not rolled back when it fails part-way, so: everything that can fail is checked before
# the first write (a key of the wrong type, e.g. another program's key in the namespace); and the writes are
# ordered so that a failure at any point leaves a re-send of the batch correct. Events go first (re-adding a
# member is a no-op), then the ids that mark them applied, then the bounds, then the watermark, then eviction.
# A re-sent event whose id is held at its own timestamp moves the bounds and the watermark and is evicted from
# as if applied now: a no-op when the earlier run finished (they are past it), the repair when it failed before
# them. The bounds precede the watermark: a state that failed between them refuses more past queries, not fewer.
_INGEST = """
local function zadd(key, pairs_)
  for s = 1, #pairs_, 4000 do redis.call('ZADD', key, unpack(pairs_, s, math.min(s + 3999, #pairs_))) end
end
for k = 1, #KEYS do
  local kind = redis.call('TYPE', KEYS[k])['ok']
  local want = (k == 1 or k == 4) and 'string' or (k == 5 and 'hash' or 'zset')
  if kind ~= 'none' and kind ~= want then
    return redis.error_reply('WRONGTYPE key ' .. KEYS[k] .. ' holds a ' .. kind .. ', not a ' .. want ..
      ' (nothing was written)')
  end
end
local retention = tonumber(ARGV[1])
local top_text = redis.call('GET', KEYS[1])
local top = top_text and tonumber(top_text) or -math.huge
local stored = top
if ARGV[2] ~= '' and tonumber(ARGV[2]) > top then top = tonumber(ARGV[2]); top_text = ARGV[2] end
local horizon = top - retention
local bounds = redis.call('HMGET', KEYS[5], 'oldest', 'dropped')
local oldest_text, dropped_text, bounds_moved = bounds[1], bounds[2], false
local oldest = oldest_text and tonumber(oldest_text) or math.huge
local dropped = dropped_text and tonumber(dropped_text) or -math.huge
if ARGV[5] ~= '' and tonumber(ARGV[5]) > dropped then
  dropped = tonumber(ARGV[5]); dropped_text = ARGV[5]; bounds_moved = true
end
local with_ids = ARGV[3] == '1'
local n = (#ARGV - 5) / 4
local held, seq = {}, 0
if with_ids then
  local ids = {}
  for e = 1, n do ids[e] = ARGV[4 * e + 4] end
  for s = 1, n, 4000 do
    local scores = redis.call('ZMSCORE', KEYS[2], unpack(ids, s, math.min(s + 3999, n)))
    for j = 1, #scores do held[s + j - 1] = scores[j] end
  end
elseif n > 0 then
  seq = redis.call('INCRBY', KEYS[4], n) - n
end
local fresh, new_ids, added, newest = {}, {}, {}, {}
local accepted, duplicates, late = 0, 0, 0
for e = 1, n do
  local i = 4 * e + 2
  local ts_text, id = ARGV[i + 1], ARGV[i + 2]
  local ts = tonumber(ts_text)
  local k = tonumber(ARGV[i])
  if with_ids and (held[e] or fresh[id]) then
    duplicates = duplicates + 1
    if held[e] and tonumber(held[e]) == ts and not fresh[id] then
      if ts > top then top = ts; top_text = ts_text; horizon = ts - retention end
      if ts < oldest then oldest = ts; oldest_text = ts_text; bounds_moved = true end
      if not newest[k] or ts > newest[k][1] then newest[k] = {ts, ts_text} end
    end
  elseif ts < horizon then
    late = late + 1
    -- Once the horizon has passed an accepted event, one dropped below it cannot move complete_from: not
    -- recorded, so a re-send after a failure during eviction (evicted ids come back too late) writes the same.
    if ts > dropped and horizon <= oldest then dropped = ts; dropped_text = ts_text; bounds_moved = true end
  else
    if ts < oldest then oldest = ts; oldest_text = ts_text; bounds_moved = true end
    if ts > top then top = ts; top_text = ts_text; horizon = ts - retention end
    local member = ARGV[i + 3]
    if with_ids then
      fresh[id] = true
      new_ids[#new_ids + 1] = ts_text
      new_ids[#new_ids + 1] = id
    else
      member = member .. ',' .. string.format('%d', seq + e)
    end
    local list = added[k]
    if not list then list = {}; added[k] = list end
    list[#list + 1] = ts_text
    list[#list + 1] = member
    if not newest[k] or ts > newest[k][1] then newest[k] = {ts, ts_text} end
    accepted = accepted + 1
  end
end
for k, list in pairs(added) do zadd(KEYS[k], list) end
for k, n in pairs(newest) do redis.call('ZADD', KEYS[3], 'GT', n[2], KEYS[k]) end
if #new_ids > 0 then zadd(KEYS[2], new_ids) end
if bounds_moved then redis.call('HSET', KEYS[5], 'oldest', oldest_text or '', 'dropped', dropped_text or '') end
if top ~= stored then redis.call('SET', KEYS[1], top_text) end
if top > -math.huge then
  local cut = '(' .. string.format('%.17g', horizon)
  for k in pairs(newest) do redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', cut) end
  if with_ids then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', cut) end
  local quiet = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', cut, 'LIMIT', 0, tonumber(ARGV[4]))
  for _, name in ipairs(quiet) do
    redis.call('DEL', name)
    redis.call('ZREM', KEYS[3], name)
  end
end
return {accepted, duplicates, late}
"""

_QUERY = """
local events = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], ARGV[2])
events[#events + 1] = redis.call('GET', KEYS[2]) or ''
local bounds = redis.call('HMGET', KEYS[3], 'oldest', 'dropped')
events[#events + 1] = bounds[1] or ''
events[#events + 1] = bounds[2] or ''
return events
"""

# Per cutoff: the count, then the rows at the newest score <= cutoff. Beyond 2**53 µs a score is rounded, so the
# rows of the score below are returned too (ARGV[1] = '1') and the caller picks by exact timestamp.
_LOOKUP = """
local out = {}
local function bucket(score)
  local rows = redis.call('ZRANGEBYSCORE', KEYS[1], score, score)
  for _, row in ipairs(rows) do out[#out + 1] = row end
  return #rows
end
for i = 2, #ARGV do
  local slot = #out + 1
  out[slot] = 0
  local top = redis.call('ZREVRANGEBYSCORE', KEYS[1], ARGV[i], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
  if top[1] then
    local count = bucket(top[2])
    if ARGV[1] == '1' then
      local below = redis.call('ZREVRANGEBYSCORE', KEYS[1], '(' .. top[2], '-inf', 'WITHSCORES', 'LIMIT', 0, 1)
      if below[1] then count = count + bucket(below[2]) end
    end
    out[slot] = count
  end
end
out[#out + 1] = redis.call('GET', KEYS[2]) or ''
return out
"""


# The events held: the sizes of the entity sets listed in the ``keys`` set.
_HELD = """
local n = 0
for _, set in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do n = n + redis.call('ZCARD', set) end
return n
"""


class RedisStore:
    """Window and lookup state in a Redis server: every RowDriver on the same ``url`` and ``namespace`` shares it.

    Durability is Redis's: run the server with ``appendonly yes`` (``appendfsync always`` to survive power
    loss, ``everysec`` to survive a process crash) and a restarted driver loses nothing Redis acknowledged.

    An ingest batch is one atomic Lua script (duplicates and too-late events counted as in ``MemoryStore``), a
    query one script call; the values are aggregated in the driver with the same code as in memory. Connecting
    pings the server; failures raise ``StoreError``. Needs ``pip install 'fdag[redis]'``.

    Parameters
    ----------
    url
        The server, ``redis://host:6379/0`` or ``unix:///path/redis.sock``.
    namespace
        The prefix of every key: drivers on the same url and namespace share their state.
    timeout
        Seconds to wait for a connection or a reply before the command is retried, then fails.

    Example::

        import os

        import fdag
        from fdag.demo import fraud
        from fdag.demo.samples import transactions

        store = fdag.RedisStore(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"), namespace="fraud")
        worker = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["spend_sum_1h"], store=store)
        worker.ingest("transactions", transactions(users=20, count=500, days=3))
        replica = fdag.RowDriver(fdag.Dag.from_modules(fraud), outputs=["spend_sum_1h"], store=store)
        print(replica.watermark("transactions"))   # 2024-03-03 23:51:38+00:00: the state the worker wrote
    """

    def __init__(
        self, url: str = "redis://127.0.0.1:6379/0", namespace: str = "fdag", *, timeout: float = 5.0
    ) -> None:
        try:
            import redis
            from redis.backoff import ExponentialBackoff, NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise MissingDependencyError("redis", "RedisStore", extra="redis") from None
        self.url = url
        self.namespace = namespace
        self._errors = errors = redis.exceptions
        # redis-py retries a command whose connection dropped or timed out (a server restart, an idle connection
        # closed by a proxy) on a fresh connection, after a short exponential backoff.
        retry = Retry(ExponentialBackoff(cap=_BACKOFF_CAP, base=_BACKOFF_BASE), _RETRIES)
        options = {"socket_timeout": timeout, "socket_connect_timeout": timeout}
        try:
            self.client = redis.Redis.from_url(url, retry=retry, **options,
                                               retry_on_error=[errors.ConnectionError, errors.TimeoutError])
            # For what must not run twice: a re-sent ingest of a source without ids would apply it again.
            self._once = redis.Redis.from_url(url, retry=Retry(NoBackoff(), 0), **options)
        except ValueError as exc:
            raise StoreError(f"RedisStore url {url!r}", "is not a Redis url",
                             "write it like 'redis://host:6379/0' or 'unix:///path/redis.sock'", exc) from None
        self._scripts: dict[str, Any] = {}
        self.call("PING")

    def window_state(
        self,
        source: Source,
        specs: Sequence[WindowSpec],
        values: Mapping[str, ValueFunction],
    ) -> RedisWindowState:
        """The shared state for ``specs`` over ``source`` (same layout, same keys in every process).

        Parameters
        ----------
        source
            The source whose events the state holds.
        specs
            The window specs of the plan over that source.
        values
            Value column → the per-event function giving it (its code is part of the layout's fingerprint).
        """
        return RedisWindowState(self, source, specs, values)

    def lookup_state(
        self,
        source: Source,
        specs: Sequence[LookupSpec],
        values: Mapping[str, ValueFunction],
    ) -> RedisLookupState:
        """The shared lookup state for ``specs`` over ``source`` (same layout, same keys in every process).

        Parameters
        ----------
        source
            The source whose rows the state holds.
        specs
            The lookup specs of the plan over that source.
        values
            Value column → the per-row function giving it (its code is part of the layout's fingerprint).
        """
        return RedisLookupState(self, source, specs, values)

    def call(self, *command: Any, retry: bool = True) -> Any:
        """Run one command; failures become ``StoreError``.

        Parameters
        ----------
        command
            The command and its arguments, e.g. ``"PING"`` or ``"GET", key``.
        retry
            redis-py re-sends it on a dropped connection or a timeout, so it may run twice on the server (its reply
            lost the first time); pass ``False`` for a command that must not.
        """
        return self._guarded(lambda client: client.execute_command(*command), retry)

    def script(self, name: str, text: str, keys: Sequence[Any], args: Sequence[Any], retry: bool = True) -> Any:
        """Run a Lua script by its SHA (redis-py loads it when the server does not know it, e.g. after a restart).

        Parameters
        ----------
        name
            The script's name, under which it is registered once.
        text
            The Lua source.
        keys, args
            Its ``KEYS`` and ``ARGV``.
        retry
            As for ``call``.
        """
        script = self._script(name, text)
        return self._guarded(lambda client: script(keys, args, client=client), retry)

    def pipeline_scripts(
        self, name: str, text: str, calls: Sequence[tuple[Sequence[Any], Sequence[Any]]], retry: bool = True
    ) -> list[Any]:
        """Run a script once per ``(keys, args)`` in one round trip (a pipeline without MULTI).

        Parameters
        ----------
        name, text
            As for ``script``.
        calls
            One ``(keys, args)`` pair per run.
        retry
            As for ``call``.
        """
        script = self._script(name, text)

        def run(client: Any) -> list[Any]:
            pipe = client.pipeline(transaction=False)
            for keys, args in calls:
                script(keys, args, client=pipe)
            return pipe.execute()  # loads the script first if the server does not know it

        def run_again_without_script(client: Any) -> list[Any]:
            try:
                return run(client)
            except self._errors.NoScriptError:
                # redis-py re-sent the pipeline to a server restarted after the script check: every call failed
                # (none ran), and this run loads the script first.
                return run(client)

        return self._guarded(run_again_without_script if retry else run, retry)

    def _script(self, name: str, text: str) -> Any:
        """The ``redis.commands.core.Script`` of ``text``, registered once under ``name``."""
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self.client.register_script(text)
        return script

    def _guarded(self, command: Callable[[Any], Any], retry: bool) -> Any:
        """``command(client)`` on the retrying client, or the one that never retries; failures become ``StoreError``."""
        errors = self._errors
        try:
            return command(self.client if retry else self._once)
        except (errors.ConnectionError, errors.TimeoutError):
            raise self._unreachable() from None
        except errors.RedisError as exc:
            raise self._failed(exc) from None

    def _unreachable(self) -> StoreError:
        """The error for a server that cannot be reached."""
        return StoreError(f"Redis at {self.url}", "cannot be reached",
                          "start redis-server there or fix the url; acknowledged batches are durable and ingest is "
                          "idempotent by id, so re-send the batch that failed once it is back")

    def _failed(self, exc: Exception) -> StoreError:
        """The error for a command the server refused."""
        return StoreError(f"Redis at {self.url}", "failed", "check the server's log, memory limit (maxmemory) and "
                          "that the key namespace is not used by others", exc)

    def __repr__(self) -> str:
        return f"RedisStore({self.url!r}, namespace={self.namespace!r})"


class RedisEvents:
    """The events of one source kept in Redis with the specs' per-event values: ingest, bootstrap, watermark.

    Ingest applies ``MemoryEvents``' rules (duplicates, ``max_future``, too late below ``watermark - retention``,
    eviction) in one atomic, idempotent script call per batch, which also keeps the ``bounds`` hash current.
    """

    def __init__(
        self, store: RedisStore, source: Source, specs: Sequence[WindowSpec | LookupSpec],
        columns: tuple[str, ...], values: Mapping[str, ValueFunction], retention: int,
    ) -> None:
        self.store = store
        self.source = source
        self.specs = tuple(specs)
        self.columns = columns
        _check_specs(source, self.specs, self.columns, values)
        self._values = EventValues(self.specs, self.columns, values)
        params = dict.fromkeys(param for spec in self.specs for param in spec.params)
        self._checker = EventChecker(source, tuple(params))
        self._retention = retention
        self.prefix = layout_prefix(store.namespace, source, self.specs, self._retention)
        self._roles = [self.prefix + part for part in ("wm", "ids", "keys", "seq", "bounds")]
        self._with_ids = source.id is not None
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
        return int(self.store.call("EVAL", _HELD, 1, self._roles[2]))

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> IngestReport:
        """Apply a batch of events in one atomic, idempotent round trip; validated first, all or nothing.

        Duplicate ids (held, or earlier in the batch), events older than the retention horizon and events
        beyond ``max_future`` (dropped here, before the script) are counted and not applied, exactly as
        ``MemoryEvents.ingest`` does. A batch whose reply was lost is re-sent (a source with ids; the report
        then counts the applied events as duplicates); without ids it is not, and the ``StoreError`` leaves it
        unknown whether the batch was applied.
        """
        checked = self._checker.check(events)
        if not checked:
            return IngestReport()
        cutoff, future = self._checker.future_cutoff(), 0
        encode, native, with_ids, value_of = encode_json, self._native, self._with_ids, self._values.of
        failures: Failures = []
        positions: dict[Any, int] = {}
        keys = list(self._roles)
        args: list[Any] = [self._retention, "", int(with_ids), _QUIET_KEYS, ""]
        for key, ts, event_id, event in checked:
            values = value_of(event, failures)  # errors count every event given, as MemoryEvents counts them
            if ts > cutoff:
                future += 1
                continue
            position = positions.get(key)
            if position is None:
                keys.append(self._key_name(key))
                position = positions[key] = len(keys)
            if not native:
                values = [v if f is None else f(v) for f, v in zip(self._encoders, values, strict=True)]
            if with_ids:
                args += (position, ts, event_id, encode([ts, event_id, *values])[1:-1])
            else:
                args += (position, ts, "", encode([ts, *values])[1:-1])
        # Retried only when idempotent: by ids, held ones count as duplicates the second time.
        accepted, duplicates, late = self.store.script("ingest", _INGEST, keys, args, retry=with_ids)
        return IngestReport(accepted, duplicates, late, future, error_records(failures))

    def validate(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Raise ``SourceError`` if ``ingest`` would reject the batch; apply nothing."""
        self._checker.check(events)

    def bootstrap(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> IngestReport:
        """Load a history frame in pipelined chunks, with ``MemoryEvents.bootstrap``'s rules.

        The horizon is fixed up front from ``max(watermark, newest row)``: older rows are ``too_late``,
        rows whose id is held are ``duplicates`` (the earliest copy wins within the frame).
        """
        return self.load(self.prepare(frame, values))

    def prepare(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> History:
        """Validate a history frame and compute its per-event values for ``load``; nothing is sent to Redis.

        Raises ``SourceError`` for a frame ``bootstrap`` would reject: a driver prepares every state of a source
        before loading any, so a frame one state rejects changes none.
        """
        return prepare_history(self.source, self._checker, self.columns, self._values, frame, values)

    def load(self, history: History) -> IngestReport:
        """Send a history this state ``prepare``d (the second half of ``bootstrap``)."""
        stored = self.store.call("GET", self._roles[0])
        top = max(int(stored) if stored else _NO_WATERMARK, history.latest)
        loaded = history.filter(top - self._retention if top != _NO_WATERMARK else _NO_WATERMARK, None)
        columns = [column if convert is None else [convert(v) for v in column]
                   for convert, column in zip(self._encoders, loaded.values, strict=True)]
        ids = loaded.ids if self._with_ids and loaded.ids is not None else [""] * len(loaded.ts)
        rows = list(zip(loaded.ts, ids, *columns, strict=True) if self._with_ids
                    else zip(loaded.ts, *columns, strict=True))
        skipped = "" if loaded.newest_late is None else loaded.newest_late  # dropped before the script
        head = [self._retention, top if top != _NO_WATERMARK else "", int(self._with_ids), _QUIET_KEYS, skipped]
        calls: list[tuple[list[Any], list[Any]]] = []
        keys, args = list(self._roles), list(head)
        encode = encode_json
        for key, start, end in loaded.groups:
            keys.append(self._key_name(key))
            position = len(keys)
            for r in range(start, end):
                args += (position, loaded.ts[r], ids[r], encode(rows[r])[1:-1])
            if len(args) >= 4 * _CHUNK:
                calls.append((keys, args))
                keys, args = list(self._roles), list(head)
        calls.append((keys, args))
        accepted, duplicates, late = 0, history.duplicates, loaded.too_late
        for first in range(0, len(calls), _CHUNKS_PER_TRIP):
            trip = calls[first : first + _CHUNKS_PER_TRIP]
            for a, d, t in self.store.pipeline_scripts("ingest", _INGEST, trip, retry=self._with_ids):
                accepted, duplicates, late = accepted + a, duplicates + d, late + t
        return IngestReport(accepted, duplicates, late, history.future, history.errors)

    def _key_name(self, key: Any) -> str:
        """The Redis key of one entity's events."""
        return f"{self.prefix}e:{key}"

    def __repr__(self) -> str:
        specs = [spec.node for spec in self.specs]
        return f"{type(self).__name__}({self.source.name!r}, specs={specs}, prefix={self.prefix!r})"


class RedisWindowState(RedisEvents):
    """Window state of one source for fixed specs, kept in Redis; values equal ``MemoryWindowState``'s.

    Example::

        state = fdag.RedisStore(url).window_state(transactions, specs, {"__value__amount": lambda e: e["amount"]})
        state.ingest([{"txn_id": "t1", "user_id": "u1", "ts": now, "amount": 20.0}])
        values, watermark = state.query("u1", as_of)
    """

    def __init__(
        self, store: RedisStore, source: Source, specs: Sequence[WindowSpec], values: Mapping[str, ValueFunction]
    ) -> None:
        self._query = WindowQuery(specs)
        self._longest = max((spec.over for spec in specs), default=source.allowed_lateness * 0)
        retention = (self._longest + source.allowed_lateness) // MICROSECOND
        super().__init__(store, source, specs, self._query.columns, values, retention)
        # The stored texts of watermark, oldest and dropped, and what they give: the watermark, complete_from
        # and the earliest exact as_of (µs). They change far less often than they are read.
        self._clock_cache: tuple[tuple[bytes, ...], datetime | None, int, int] = ((b"", b"", b""), None, NEVER, NEVER)

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], datetime | None]:
        """The specs' values for ``key`` at ``as_of`` (aligned with the specs), and the watermark: one round trip.

        Raises ``TruncatedStateError`` if the longest window at ``as_of`` reaches below data that may be gone.
        """
        t, rows, watermark = self._rows(key, as_of, self._query.closed_both)
        if not rows:
            return self._query.empty(), watermark
        raw = [list(column) for column in zip(*rows, strict=True)][self._value_slice]
        for j, convert in self._decoders:
            raw[j] = [convert(v) for v in raw[j]]
        return self._query.values([row[0] for row in rows], raw, t), watermark

    def events(self, key: Any, as_of: datetime) -> tuple[list[HeldEvent], datetime | None]:
        """The key's held events with ``as_of - longest window <= ts <= as_of`` in (timestamp, id) order, each
        ``(ts µs, id or None, value column -> value)``, and the watermark: one round trip, as ``query``."""
        t, rows, watermark = self._rows(key, as_of, True)
        low, decoders = t - self._query.longest, dict(self._decoders)
        held = []
        for row in rows:
            if low <= row[0] <= t:  # beyond 2**53 µs the fetched range is wider than the window
                values = row[self._value_slice]
                held.append((row[0], row[1] if self._with_ids else None,
                             {column: value if (convert := decoders.get(j)) is None else convert(value)
                              for j, (column, value) in enumerate(zip(self.columns, values, strict=True))}))
        return held, watermark

    def _rows(self, key: Any, as_of: datetime, inclusive: bool) -> tuple[int, list[list[Any]], datetime | None]:
        """``as_of`` in µs, the key's decoded rows from the longest window's start to ``as_of`` (included if
        ``inclusive``) sorted by (timestamp, id or arrival), and the watermark; raises ``TruncatedStateError``."""
        t = micros(as_of)
        # Scores are float64: beyond 2**53 µs widen the range by the rounding step and let bisection cut exactly.
        margin = 0 if -_SAFE_SCORE < t < _SAFE_SCORE else 1 + (abs(t) >> 52)
        low = t - self._query.longest - margin
        high = t + margin if (margin or inclusive) else f"({t}"
        reply = self.store.script("query", _QUERY, (self._key_name(key), self._roles[0], self._roles[4]), (low, high))
        texts = (reply[-3], reply[-2], reply[-1])
        del reply[-3:]
        watermark, complete, answerable = self._clock_of(texts)
        if t < answerable:
            raise truncated(self.source.name, as_of, self._longest, complete)
        if not reply:
            return t, [], watermark
        rows = json.loads(b"[[" + b"],[".join(reply) + b"]]")
        ts = [row[0] for row in rows]
        if len(ts) > 1 and not all(map(lt, ts, ts[1:])):  # equal timestamps: order by id (or arrival)
            rows.sort(key=self._tie_order)
        return t, rows, watermark

    def _clock_of(self, texts: tuple[bytes, ...]) -> tuple[datetime | None, int, int]:
        """The watermark, ``complete_from`` and the earliest exact ``as_of`` (µs), from the texts of the
        watermark and the bounds (oldest accepted, newest dropped); the same rule as ``MemoryWindowState``."""
        cache = self._clock_cache
        if texts != cache[0]:
            raw, oldest, dropped = texts
            instant = EPOCH + int(raw) * MICROSECOND if raw else None
            complete = NEVER
            if raw:
                complete = complete_from(int(raw), self._retention, int(oldest) if oldest else NO_EVENT,
                                         int(dropped) if dropped else NEVER)
            cache = self._clock_cache = (texts, instant, complete, answerable_from(complete, self._longest))
        return cache[1], cache[2], cache[3]


class RedisLookupState(RedisEvents):
    """Lookup state of one source for fixed specs, kept whole in Redis; values equal ``MemoryLookupState``'s.

    Example::

        state = fdag.RedisStore(url).lookup_state(balances, specs, {"__lookup__balance_then": lambda r: r["balance"]})
        state.ingest([{"user_id": "u1", "ts": midnight, "balance": 20.0}])
        values, as_ofs = state.query("u1", as_of)
    """

    def __init__(
        self, store: RedisStore, source: Source, specs: Sequence[LookupSpec], values: Mapping[str, ValueFunction]
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
        rounded = not all(-_SAFE_SCORE < cutoff < _SAFE_SCORE for cutoff in cutoffs)
        reply = self.store.script("lookup", _LOOKUP, (self._key_name(key), self._roles[0]),
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
