"""fdag's event encoding on a stream: one entry per event, one field per column, each value as JSON text.

A value is written by its type, so that it reads back exactly:

- ``int``: decimal digits; ``float``: the shortest repr that round-trips (``0.1``, ``1e+16``, ``Infinity``);
  NaN is null, as everywhere in fdag; ``bool``: ``true`` / ``false``; ``str``: a JSON string (UTF-8);
- ``datetime``: microseconds since the Unix epoch, UTC (naive datetimes are read as UTC); ``date``: days since
  1970-01-01; ``timedelta``: microseconds; ``list[T]``: a JSON array of its items, each encoded as ``T``;
- null: ``null`` — written explicitly, so an absent field means a producer that does not know the column.

Decoding is typed by the Source's schema (a datetime column's integer becomes a UTC datetime); whether a value
fits its column is left to the ingest checks, which name the column and the fix. An entry that is not this
encoding at all (a field that is not JSON, an instant out of range) gets a reason and goes to the dead letters.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from operator import itemgetter
from typing import Any

from fdag._declare.source import Source
from fdag._streams.log import Entry
from fdag._values.frames import column_expr, to_polars
from fdag._values.instants import EPOCH, MICROSECOND, micros
from fdag._values.types import INT64_MAX, INT64_MIN, FType, coerce_value
from fdag.errors import SourceError, with_hint

EPOCH_DAY = date(1970, 1, 1)
DAY = timedelta(days=1)

_dumps: Callable[[Any], str] = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_loads = json.loads


def _encode_float(value: float) -> str:
    return "null" if value != value else _dumps(value)


def _encode_list(value: Sequence[Any]) -> str:
    return "[" + ",".join([encode_value(item) for item in value]) + "]"


_BY_CLASS: dict[type, Callable[[Any], str]] = {
    str: _dumps,
    int: int.__repr__,
    float: _encode_float,
    bool: lambda v: "true" if v else "false",
    datetime: lambda v: str(micros(v)),
    date: lambda v: str((v - EPOCH_DAY) // DAY),
    timedelta: lambda v: str(v // MICROSECOND),
    list: _encode_list,
    tuple: _encode_list,
}


# Per column class: the encoding of a value of exactly that class, or None when it needs coercing first.
_CANONICAL: dict[type, Callable[[Any], str | None]] = {
    **{cls: _BY_CLASS[cls] for cls in (str, float, bool, datetime, date, timedelta)},
    int: lambda v: int.__repr__(v) if INT64_MIN <= v <= INT64_MAX else None,
}


def encode_value(value: Any) -> str:
    """One value as fdag's stream encoding (see the module docstring); ``TypeError`` for anything else."""
    if value is None:
        return "null"
    encode = _BY_CLASS.get(value.__class__)
    if encode is not None:
        return encode(value)
    if isinstance(value, datetime):  # e.g. pandas.Timestamp: to the microsecond, like every instant
        return str(micros(value))
    if hasattr(value, "item") and not isinstance(value, Iterable):  # a numpy scalar: its Python value
        return encode_value(value.item())
    raise TypeError(f"a {type(value).__name__} ({value!r}) has no stream encoding")


def encode_events(events: Any, source: Source | None) -> list[dict[str, str]]:
    """Events (a dict, dicts, or a Polars / pandas / Arrow frame) as entry fields, column -> encoded value.

    With ``source``, every event must carry every column of its schema with a value of the declared type
    (coerced to its canonical form, e.g. an int in a float column is written as a float); a ``SourceError``
    names the first event that does not, and nothing is encoded. Without, values are encoded as they are.
    """
    rows = _rows(events, source)
    if source is None:
        return [{column: _encode("(untyped events)", column, value, position) for column, value in row.items()}
                for position, row in enumerate(rows)]
    schema = source.schema
    roles = {source.key, source.timestamp, source.id} - {None}
    # A value of exactly the column's class is canonical already (an int within int64): encode it directly.
    columns = [(column, ftype, ftype.base, _CANONICAL.get(ftype.base)) for column, ftype in schema.items()]
    encoded = []
    for position, row in enumerate(rows):
        fields = {}
        for column, ftype, base, fast in columns:
            if column not in row:
                raise _publish_error(source, position, column, "is missing",
                                     f"every event carries all of {', '.join(schema)} (null where unknown)")
            value = row[column]
            if value.__class__ is base and fast is not None and (text := fast(value)) is not None:
                fields[column] = text
                continue
            if value is None and column in roles:
                raise _publish_error(source, position, column, "is null",
                                     "every event needs its key, timestamp and id")
            try:
                value = coerce_value(value, ftype)
            except (TypeError, OverflowError) as exc:
                problem = (str(exc).replace("is a", "holds a", 1) if isinstance(exc, TypeError)
                           else f"holds {value}, which does not fit in int64")
                raise _publish_error(source, position, column, problem,
                                     f"send values of the declared type ('{ftype}') or fix the Source schema") from None
            fields[column] = _encode(source.name, column, value, position)
        encoded.append(fields)
    return encoded


def _rows(events: Any, source: Source | None) -> Sequence[Mapping[str, Any]]:
    """The events as mappings; a frame is cast to the schema's canonical dtypes first when a source is given."""
    if isinstance(events, Mapping):
        return [events]
    if isinstance(events, list | tuple):
        return list(events)
    if hasattr(events, "columns"):  # a Polars, pandas or Arrow frame
        frame = to_polars(events, "events")
        if source is not None:
            present = [c for c in source.schema if c in frame.columns]
            frame = frame.select([column_expr(frame.schema, c, source.schema[c], "events") for c in present])
        return frame.to_dicts()
    return list(events)


def _encode(source: str, column: str, value: Any, position: int) -> str:
    try:
        return encode_value(value)
    except TypeError as exc:
        raise SourceError(source, f"cannot be encoded ({exc}); nothing was published",
                          "send int, float, bool, str, datetime, date, timedelta, lists of those, or None",
                          column=column, where=f"event {position}") from None


def _publish_error(source: Source, position: int, column: str, problem: str, hint: str) -> SourceError:
    return SourceError(source.name, f"{problem}; nothing was published", hint, column=column,
                       where=f"event {position}")


def _temporal(ftype: FType) -> Callable[[Any], Any] | None:
    """JSON value -> value for a column whose encoding is an integer (instants, days, durations), else None."""
    if ftype.base is datetime:
        return lambda v: EPOCH + v * MICROSECOND if v.__class__ is int else v
    if ftype.base is date:
        return lambda v: EPOCH_DAY + v * DAY if v.__class__ is int else v
    if ftype.base is timedelta:
        return lambda v: v * MICROSECOND if v.__class__ is int else v
    if ftype.base is list and ftype.item is not None:
        item = _temporal(ftype.item)
        if item is not None:
            return lambda v: [x if x is None else item(x) for x in v] if v.__class__ is list else v
    return None


class EventDecoder:
    """Decodes entries of one source's stream into events, finding the entries that are not fdag's encoding."""

    def __init__(self, source: Source) -> None:
        self.source = source
        self.columns = tuple(source.schema)
        self._names = tuple(column.encode() for column in self.columns)
        self._layout = list(self._names)  # the field names of an entry as publish writes it, in order
        self._values = itemgetter(*self._names)  # a source has at least two columns: the getter returns tuples
        self._temporal = [(column, convert) for column, ftype in source.schema.items()
                          if (convert := _temporal(ftype)) is not None]
        self._temporal_at = [(self.columns.index(column), convert) for column, convert in self._temporal]

    def decode(
        self, entries: Sequence[Entry]
    ) -> tuple[list[Entry], list[Mapping[str, Any]], list[tuple[Entry, str]]]:
        """The decodable entries and their events, and ``(entry, reason)`` for the others, each in order.

        A batch whose entries all carry every column is decoded as a whole: its values are joined into one JSON
        text, parsed in one call and converted column by column (an entry whose fields come in the schema's
        order, as ``publish`` writes them, is read without a dict). A batch with an odd entry is decoded entry
        by entry. An absent column stays absent in its event (the ingest checks decide whether it is needed).
        """
        if not entries:
            return [], [], []
        try:
            rows = self._rows(entries)
        except (KeyError, ValueError, OverflowError):
            good, bad = self._decode_each(entries)
            return [entry for entry, _ in good], [event for _, event in good], bad
        columns = self.columns
        return list(entries), [dict(zip(columns, row, strict=False)) for row in rows], []  # widths checked

    def _rows(self, entries: Sequence[Entry]) -> list[list[Any]]:
        """Every entry's values in schema order, decoded; raises if any entry lacks a column or is not JSON."""
        layout, values = self._layout, self._values
        text = b"],[".join([b",".join(flat[1::2]) if flat[::2] == layout  # type: ignore[index]
                            else b",".join(values(dict(zip(flat[::2], flat[1::2], strict=True))))  # type: ignore[index]
                            for flat in [entry.fields for entry in entries]])
        rows = _loads(b"[[" + text + b"]]")
        width = len(self.columns)
        if len(rows) != len(entries) or any(len(row) != width for row in rows):
            raise ValueError("a field holds more than one value")
        for j, convert in self._temporal_at:
            for row in rows:
                value = row[j]
                if value is not None:
                    row[j] = convert(value)
        return rows

    def _decode_each(
        self, entries: Sequence[Entry]
    ) -> tuple[list[tuple[Entry, dict[str, Any]]], list[tuple[Entry, str]]]:
        """``decode`` entry by entry, field by field: slower, and it finds the reason of each bad entry."""
        good: list[tuple[Entry, dict[str, Any]]] = []
        bad: list[tuple[Entry, str]] = []
        for entry in entries:
            event = self._decode_one(entry.mapping())
            problem = event if isinstance(event, str) else self._convert(event)
            if problem is None:
                good.append((entry, event))  # type: ignore[arg-type]
            else:
                bad.append((entry, f"entry {entry.id} of source '{self.source.name}': {problem}"))
        return good, bad

    def _decode_one(self, fields: Mapping[bytes, bytes]) -> dict[str, Any] | str:
        """One entry's event, field by field, or the reason it is not fdag's encoding."""
        event: dict[str, Any] = {}
        for name, column in zip(self._names, self.columns, strict=True):
            raw = fields.get(name)
            if raw is None:
                continue
            try:
                event[column] = _loads(raw)
            except ValueError:
                return with_hint(f"column '{column}' holds {raw[:80]!r}, which is not fdag's stream encoding "
                                 "(JSON text)", "publish with RedisStream.publish, or encode as docs/streams.md "
                                 "describes")
        return event

    def _convert(self, event: dict[str, Any]) -> str | None:
        """Turn the integer encodings of temporal columns into values, in place; the problem if one is out of range."""
        for column, convert in self._temporal:
            value = event.get(column)
            if value is not None:
                try:
                    event[column] = convert(value)
                except (OverflowError, TypeError):
                    return with_hint(f"column '{column}' holds {value!r}, out of range for "
                                     f"'{self.source.schema[column]}'", "instants are µs since the epoch, dates days")
        return None
