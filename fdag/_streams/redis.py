"""``RedisStream``: fdag's stream log on a Redis Stream, read by consumer groups.

Each event is one entry (``XADD``, a chunk at a time from a script) with one field per column in fdag's stream
encoding (``encoding``). Workers
read with ``XREADGROUP``, acknowledge with ``XACK``, re-read their own pending entries after a restart
(``XREADGROUP`` from id 0) and take over a dead consumer's with ``XAUTOCLAIM``. Malformed entries move to the
stream ``<stream>:dead`` with their reason, in one ``MULTI`` with their acknowledgement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any

from fdag._declare.source import Source
from fdag._streams.encoding import encode_events
from fdag._streams.log import DEAD_LETTER_SUFFIX, ENTRY_FIELD, GROUP_FIELD, REASON_FIELD, Entry, Lag
from fdag.errors import MissingDependencyError, StoreError

_PUBLISH_CHUNK = 1_000  # entries per script call (one round trip, appended atomically)
_ACK_CHUNK = 10_000  # ids per XACK
_MAX_BLOCK = 5.0  # seconds a read may block; the socket timeout allows for it
_RAW_REPLIES = ("XREADGROUP", "XAUTOCLAIM", "XPENDING", "XRANGE")  # parsed here: redis-py's dicts cost 3x

# Appends a chunk of entries: ARGV = maxlen or '', then per entry its field count and its fields. One script
# call instead of one XADD each halves the cost of publishing (parsing and packing per command dominate).
_PUBLISH = """
local ids, i, n = {}, 2, #ARGV
while i <= n do
  local width = tonumber(ARGV[i])
  if ARGV[1] == '' then
    ids[#ids + 1] = redis.call('XADD', KEYS[1], '*', unpack(ARGV, i + 1, i + width))
  else
    ids[#ids + 1] = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, i + 1, i + width))
  end
  i = i + width + 1
end
return ids
"""


class RedisStream:
    """An append-only event log in a Redis Stream, shared by producers and ingest workers.

    ``source`` (optional) types ``publish``: events are checked against its schema before anything is sent.
    ``maxlen`` trims the stream to about that many entries as it grows (``XADD MAXLEN ~``): keep enough to
    cover the handoff from a bootstrap history (see docs/streams.md).

    Example::

        import os
        from datetime import datetime

        import fdag
        from fdag.demo import fraud

        url = os.environ["REDIS_URL"]
        log = fdag.RedisStream(url, stream="transactions-example", source=fraud.transactions)
        log.publish({"txn_id": "t1", "user_id": "u1", "ts": datetime(2024, 3, 1, 10), "amount": 20.0,
                     "merchant": "m1"})
        row = fdag.RowDriver(fdag.Dag.from_modules(fraud), store=fdag.RedisStore(url, namespace="stream-example"))
        print(row.consume("transactions", log, group="features", consumer="w1").run(max_events=1).applied)
        # 1
    """

    def __init__(
        self,
        url: str,
        stream: str,
        *,
        source: Source | None = None,
        maxlen: int | None = None,
        timeout: float = 5.0,
    ) -> None:
        try:
            import redis
            from redis.backoff import NoBackoff
            from redis.retry import Retry
        except ImportError:
            raise MissingDependencyError("redis", "redis") from None
        self.url = url
        self._stream = stream
        self.source = source
        self.maxlen = maxlen
        self._errors = redis.exceptions
        try:
            # RESP2 pinned: the raw replies parsed here have one shape whatever the client's default protocol.
            self.client = redis.Redis.from_url(url, protocol=2, socket_timeout=timeout + _MAX_BLOCK,
                                               socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 0))
        except ValueError as exc:
            raise StoreError(f"RedisStream url {url!r}", f"is not a Redis url ({exc})",
                             "write it like 'redis://host:6379/0' or 'unix:///path/redis.sock'") from None
        for command in _RAW_REPLIES:
            self.client.set_response_callback(command, _raw)
        self._publish = self.client.register_script(_PUBLISH)
        self._command("PING")

    @property
    def stream(self) -> str:
        """The Redis key of the stream."""
        return self._stream

    @property
    def dead_stream(self) -> str:
        """The Redis key of the dead-letter stream: malformed entries with their reason."""
        return self._stream + DEAD_LETTER_SUFFIX

    def publish(self, events: Any, source: Source | None = None) -> list[str]:
        """Append events (a dict, dicts, or a Polars / pandas / Arrow frame), one entry each, in order.

        Typed by ``source`` (or the stream's): a ``SourceError`` names the first event that does not fit its
        schema, and nothing is sent. Entries go out in chunks of 1,000, each appended atomically by one script
        call; after a failure, publish the events again — consumers drop the copies by id.
        """
        encoded = encode_events(events, source or self.source)
        ids: list[str] = []
        for first in range(0, len(encoded), _PUBLISH_CHUNK):
            args: list[Any] = ["" if self.maxlen is None else self.maxlen]
            for fields in encoded[first : first + _PUBLISH_CHUNK]:
                args.append(2 * len(fields))
                args += [part for pair in fields.items() for part in pair]
            reply = self._call(partial(self._publish, keys=[self._stream], args=args), retry=False)
            ids += [entry_id.decode() for entry_id in reply]
        return ids

    def append(self, fields: Mapping[str, str | bytes]) -> str:
        """Append one entry with ``fields`` exactly as given: for producers that encode events themselves."""
        flat = [part for pair in fields.items() for part in pair]
        reply = self._command("XADD", self._stream, "*", *flat, retry=False)
        return str(reply.decode())

    def create_group(self, group: str) -> None:
        """Create ``group`` at the stream's start ("0"), creating the stream too, unless the group exists."""
        try:
            self._command("XGROUP", "CREATE", self._stream, group, "0", "MKSTREAM")
        except StoreError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def read_group(
        self, group: str, consumer: str, count: int, *, block: float | None = None, pending: bool = False,
        after: str = "0", ack: Sequence[str] = (),
    ) -> list[Entry]:
        """``XREADGROUP``: new entries (``>``), waiting up to ``block`` s; or with ``pending``, this consumer's own
        after id ``after``, with their delivery counts (``XPENDING``). ``ack``: ``XACK`` these first, pipelined."""
        command: list[Any] = ["XREADGROUP", "GROUP", group, consumer, "COUNT", count]
        if block is not None and not pending:
            command += ["BLOCK", max(1, round(min(block, _MAX_BLOCK) * 1000))]  # 0 would mean forever
        command += ["STREAMS", self._stream, after if pending else ">"]
        if not ack and not pending:
            reply = self._command(*command)
            return _entries(reply[0][1]) if reply else []
        pipe = self.client.pipeline(transaction=False)
        for first in range(0, len(ack), _ACK_CHUNK):
            pipe.execute_command("XACK", self._stream, group, *ack[first : first + _ACK_CHUNK])
        pipe.execute_command(*command)
        if pending:  # the same entries: this consumer's, after ``after``; counted after this delivery
            pipe.execute_command("XPENDING", self._stream, group, "-" if after == "0" else "(" + after, "+", count,
                                 consumer)
        replies = self._call(pipe.execute)
        if pending:
            reply, counts = replies[-2], replies[-1]
            return _entries(reply[0][1], {row[0]: row[3] for row in counts}) if reply else []
        return _entries(replies[-1][0][1]) if replies[-1] else []

    def ack(self, group: str, ids: Sequence[str]) -> None:
        """``XACK`` the entries."""
        for first in range(0, len(ids), _ACK_CHUNK):
            command = ["XACK", self._stream, group, *ids[first : first + _ACK_CHUNK]]
            self._command(*command)

    def claim(self, group: str, consumer: str, min_idle: float, count: int) -> list[Entry]:
        """``XAUTOCLAIM`` up to ``count`` entries idle for ``min_idle`` s on any consumer, scanning the whole list;
        then ``XPENDING`` for their delivery counts."""
        claimed: list[Entry] = []
        cursor: Any = "0-0"
        while len(claimed) < count:
            command = ["XAUTOCLAIM", self._stream, group, consumer, round(min_idle * 1000), cursor,
                       "COUNT", count - len(claimed)]
            reply = self._command(*command)
            cursor = reply[0]
            claimed += _entries(reply[1])
            # Redis 7 drops pending entries deleted from the stream itself and lists their ids apart: report them
            # as trimmed (acknowledging them again is harmless).
            claimed += [Entry(entry_id.decode(), None) for entry_id in (reply[2] if len(reply) > 2 else [])]
            if cursor in (b"0-0", "0-0"):
                break
        live = [entry for entry in claimed if entry.fields is not None]
        if not live:
            return claimed
        pipe = self.client.pipeline(transaction=False)
        for entry in live:
            pipe.execute_command("XPENDING", self._stream, group, entry.id, entry.id, 1)
        counts = {rows[0][0].decode(): rows[0][3] for rows in self._call(pipe.execute) if rows}
        return [entry if entry.fields is None else entry._replace(deliveries=counts.get(entry.id, 1))
                for entry in claimed]

    def pending(self, group: str) -> int:
        """``XPENDING``: entries delivered to the group and not acknowledged."""
        return int(self._command("XPENDING", self._stream, group)[0])

    def lag(self, group: str) -> Lag:
        """Undelivered entries (``XINFO GROUPS``) and the age of the oldest unacknowledged one (server clock)."""
        pipe = self.client.pipeline(transaction=False)
        pipe.execute_command("XINFO", "GROUPS", self._stream)
        pipe.execute_command("XPENDING", self._stream, group)
        pipe.execute_command("TIME")
        groups, pending, (seconds, micros) = self._call(pipe.execute)
        info = next((g for g in map(_pairs, groups) if g.get(b"name") == group.encode()), None)
        if info is None:
            raise StoreError(f"stream {self._stream!r}", f"has no consumer group {group!r}",
                             "create it with create_group (a worker does) or check the group name")
        entries = info.get(b"lag")
        oldest = [_millis(pending[1])] if int(pending[0]) else []
        if entries != 0:  # the first undelivered entry, if any
            after = self._command("XRANGE", self._stream, b"(" + info[b"last-delivered-id"], "+", "COUNT", 1)
            oldest += [_millis(after[0][0])] if after else []
        now = int(seconds) * 1000 + int(micros) // 1000
        age = max(0.0, (now - min(oldest)) / 1000) if oldest else 0.0
        return Lag(None if entries is None else int(entries), age)

    def dead_letter(self, group: str, entries: Sequence[tuple[Entry, str]]) -> None:
        """Copy each entry with its reason to ``<stream>:dead`` and acknowledge it, in one transaction."""
        pipe = self.client.pipeline(transaction=True)
        for entry, reason in entries:
            fields = entry.mapping()
            fields.update({REASON_FIELD: reason.encode(), ENTRY_FIELD: entry.id.encode(), GROUP_FIELD: group.encode()})
            pipe.execute_command("XADD", self.dead_stream, "*", *[part for pair in fields.items() for part in pair])
        pipe.execute_command("XACK", self._stream, group, *[entry.id for entry, _ in entries])
        self._call(pipe.execute)

    def dead_letters(self, count: int | None = None) -> list[Entry]:
        """The dead-letter entries, oldest first (each holds the original fields and ``_fdag_reason``)."""
        command: list[Any] = ["XRANGE", self.dead_stream, "-", "+"] + ([] if count is None else ["COUNT", count])
        return _entries(self._command(*command))

    def _command(self, *command: Any, retry: bool = True) -> Any:
        """Run one Redis command (see ``_call``)."""
        return self._call(partial(self.client.execute_command, *command), retry)

    def _call(self, command: Callable[[], Any], retry: bool = True) -> Any:
        """Run ``command``; once more on a dropped connection if ``retry``; failures become ``StoreError``."""
        errors = self._errors
        for attempt in (0, 1):
            try:
                return command()
            except (errors.ConnectionError, errors.TimeoutError):
                if attempt or not retry:
                    raise StoreError(
                        f"Redis at {self.url} (stream {self._stream!r})", "cannot be reached",
                        "start redis-server there or fix the url; entries read and not acknowledged stay pending "
                        "and are read again when the worker restarts") from None
            except errors.RedisError as exc:
                raise StoreError(f"Redis at {self.url}", f"failed on stream {self._stream!r}",
                                 "check the server's log and that the key is a stream", exc) from None
        raise AssertionError("unreachable")

    def __repr__(self) -> str:
        return f"RedisStream({self.url!r}, stream={self._stream!r})"


def _raw(response: Any, **options: Any) -> Any:
    """A response callback that keeps the reply as Redis sent it."""
    return response


def _entries(raw: Sequence[Any], deliveries: Mapping[bytes, int] | None = None) -> list[Entry]:
    """Entries from a raw reply ``[[id, [name, value, ...]], ...]`` (the field lists kept as they came); a trimmed
    pending entry has no fields. ``deliveries``: delivery counts by id, for entries read again."""
    if deliveries is None:
        return [Entry(entry_id.decode(), flat) for entry_id, flat in raw]
    return [Entry(entry_id.decode(), flat, deliveries.get(entry_id, 1)) for entry_id, flat in raw]


def _pairs(flat: Sequence[Any]) -> dict[bytes, Any]:
    """A reply of alternating names and values as a dict."""
    items = iter(flat)
    return dict(zip(items, items, strict=True))


def _millis(entry_id: bytes) -> int:
    """The millisecond part of a Redis entry id (``<ms>-<seq>``): when the server appended it."""
    return int(entry_id.split(b"-")[0])
