"""How window and lookup state is laid out in Redis: key names, the layout fingerprint, and the event encoding.

An event is stored as the body of a JSON array, ``ts,id,v1,...,vn`` (``ts,v1,...,vn,seq`` for a source
without ids, where the server appends an arrival number). JSON round-trips every int, float (shortest repr),
bool, str and null exactly and decodes a whole fetched window in one C call; datetime, date and timedelta
values travel as integers (µs, ordinal day, µs) and are converted back per column.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timedelta
from operator import is_
from typing import Any

from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._dag.versions import code_fingerprint
from fdag._declare.source import Source
from fdag._values.instants import EPOCH, MICROSECOND, micros
from fdag._values.types import FType

Convert = Callable[[Any], Any]

LAYOUT = "tiles-2"  # changes with what the scripts store: a new layout starts fresh instead of misreading
encode_json: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":")).encode


def encode_rows(columns: Sequence[Sequence[Any]]) -> list[str]:
    """The encoded rows of JSON-native columns: ``encode_json(list(row))[1:-1]`` for each row of ``zip(*columns)``.

    Column by column, in C: a column is encoded as one array whose body splits at its commas into the values'
    texts, unless a value's text holds a comma (a string, a list), when that column is encoded value by value;
    then one join per row. An encoder call per row costs more than the rest of the row's work. A column holding
    the very objects of an earlier one (functions passing the same event column through, e.g. a sum and a max of
    ``amount``) reuses its texts: a float's shortest repr is most of the cost.
    """
    texts: list[list[str]] = []
    for j, column in enumerate(columns):
        same = next((texts[i] for i in range(j) if all(map(is_, column, columns[i]))), None)
        if same is None:
            same = encode_json(column)[1:-1].split(",")
            if len(same) != len(column):
                same = list(map(encode_json, column))
        texts.append(same)
    return list(map(",".join, zip(*texts, strict=True)))


def layout_prefix(
    namespace: str, source: Source, specs: Sequence[WindowSpec | LookupSpec], retention: int, tiles: str = "",
    stored_as: Mapping[str, str] | None = None,
) -> str:
    """The key prefix of one layout: namespace, source and a fingerprint of what is stored per event.

    The fingerprint covers the layout's version (``LAYOUT``: how events and tiles are stored), the source's
    roles, the retention, what its tiles hold (``tiles``, see ``redis_tiles``) and each value column's name, type
    and code
    (a lookup's column is named after its node, a window's after its function), so drivers that store the
    same values share state and a changed per-event function starts fresh; and which value columns are stored as
    one (``stored_as``: value column -> the stored column holding its values), as that changes the events'
    columns. How the values are read (a lookup's lag, max age and default) changes nothing stored, so it does not
    count. The ``{...}`` hash tag keeps every key of a layout in one Redis Cluster slot, as the scripts need.
    """
    parts: list[Any] = [LAYOUT, source.name, source.key, source.timestamp, source.id, retention, tiles]
    for column in dict.fromkeys(spec.value_column for spec in specs):
        spec = next(s for s in specs if s.value_column == column)
        parts += [column, str(spec.value_type), code_fingerprint(spec.function)]
        stored = (stored_as or {}).get(column, column)
        if stored != column:  # held in another column: a layout storing every column apart keeps its prefix
            parts.append(f"in {stored}")
    digest = hashlib.sha256(repr(parts).encode()).hexdigest()[:10]
    return f"{namespace}:{{{source.name}:{digest}}}:"


def encoder(ftype: FType) -> Convert | None:
    """Value -> JSON-native value for a column of ``ftype``; None when values are JSON-native already."""
    if ftype.base is datetime:
        return lambda v: None if v is None else micros(v)
    if ftype.base is date:
        return lambda v: None if v is None else v.toordinal()
    if ftype.base is timedelta:
        return lambda v: None if v is None else v // MICROSECOND
    if ftype.base is list and ftype.item is not None:
        item = encoder(ftype.item)
        if item is not None:
            return lambda v: None if v is None else [item(x) for x in v]
    return None


def decoder(ftype: FType) -> Convert | None:
    """JSON-native value -> value for a column of ``ftype`` (the inverse of ``encoder``)."""
    if ftype.base is datetime:
        return lambda v: None if v is None else EPOCH + v * MICROSECOND
    if ftype.base is date:
        return lambda v: None if v is None else date.fromordinal(v)
    if ftype.base is timedelta:
        return lambda v: None if v is None else v * MICROSECOND
    if ftype.base is list and ftype.item is not None:
        item = decoder(ftype.item)
        if item is not None:
            return lambda v: None if v is None else [item(x) for x in v]
    return None


def column_types(specs: Sequence[WindowSpec | LookupSpec], columns: Sequence[str]) -> list[FType]:
    """The per-event value type of each value column."""
    return [next(spec for spec in specs if spec.value_column == column).value_type for column in columns]
