"""Sources: named streams of events (or snapshots) that window and lookup features read."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from fdag._values.durations import parse_duration
from fdag._values.types import FType, UnsupportedType, ftype_of
from fdag.errors import SourceError


class Source:
    """A stream of events keyed by an entity, each with a timestamp and (optionally) a unique id.

    Window and lookup features read a source; the request names the entity by the input named like ``key``.
    Events are validated against ``schema`` when ingested or given offline (``SourceError`` names the event and
    the column). An invalid declaration raises ``SourceError`` at once.

    Parameters
    ----------
    name
        The source's name: the key of ``sources={...}`` offline and the first argument of ``RowDriver.ingest``.
    key
        The entity column (``str`` or ``int``).
    timestamp
        The event-time column (``datetime``; naive instants are read as UTC).
    schema
        Column → type annotation, as for feature parameters (``int``, ``float``, ``str``, ``datetime``,
        ``T | None``, ...); it must hold the key, timestamp and id columns.
    id
        A column unique per event: re-sent events with an id already seen are ignored, online and offline.
        Without one, nothing can be deduplicated.
    allowed_lateness
        How far behind the watermark an event may arrive online and still be applied: state is kept for the
        longest window plus this.
    max_future
        An event dated more than this ahead of the wall clock (UTC now, at ingest) is not applied online and is
        counted as ``future`` — one mistyped year would otherwise move the watermark and evict everything.
        ``None`` admits any instant.

    Example::

        from datetime import datetime

        import fdag

        transactions = fdag.Source(
            "transactions", key="user_id", timestamp="ts", id="txn_id",
            schema={"txn_id": str, "user_id": str, "ts": datetime, "amount": float},
            allowed_lateness="10m",
        )
        print(transactions, transactions.allowed_lateness)
        # Source('transactions', key='user_id', timestamp='ts', id='txn_id') 0:10:00
    """

    def __init__(
        self,
        name: str,
        *,
        key: str,
        timestamp: str,
        schema: Mapping[str, Any],
        id: str | None = None,
        allowed_lateness: str | timedelta = "0s",
        max_future: str | timedelta | None = "1h",
    ) -> None:
        if not isinstance(schema, Mapping):
            raise SourceError(name, f"schema is a {type(schema).__name__}, not a mapping of column to type",
                              "write e.g. schema={'user_id': str, 'ts': datetime, 'amount': float}")
        _check_names(name, key, timestamp, id, schema)
        self.name = name
        self.key = key
        self.timestamp = timestamp
        self.id: str | None = id
        self.allowed_lateness = parse_duration(allowed_lateness, "allowed_lateness")
        self.max_future = _max_future(name, max_future)
        self.schema: dict[str, FType] = {}
        for column, annotation in schema.items():
            try:
                self.schema[column] = ftype_of(annotation)
            except UnsupportedType as exc:
                raise SourceError(name, f"has an unsupported type: {exc}",
                                  "use int, float, bool, str, datetime, date, timedelta, list[T] or T | None",
                                  column=column) from None
        roles: tuple[tuple[str, str | None], ...] = (("key", key), ("timestamp", timestamp), ("id", id))
        for role, named in roles:
            if named is not None and named not in self.schema:
                raise SourceError(name, f"names {named!r} as its {role} but its schema has no such column",
                                  f"add {named!r} to the schema or fix the {role}= argument")
        if self.schema[timestamp].base is not datetime:
            raise SourceError(name, f"is the timestamp but is declared '{self.schema[timestamp]}'",
                              "declare it as datetime", column=timestamp)
        if self.schema[key].base not in (str, int):
            raise SourceError(name, f"is the key but is declared '{self.schema[key]}'",
                              "keys are str or int", column=key)

    @property
    def key_type(self) -> FType:
        """The type of the key column, without ``| None`` (a request must name its entity)."""
        return self.schema[self.key].required()

    def __repr__(self) -> str:
        return f"Source({self.name!r}, key={self.key!r}, timestamp={self.timestamp!r}, id={self.id!r})"


def _max_future(name: str, value: str | timedelta | None) -> timedelta | None:
    """``max_future`` as a positive ``timedelta`` (or None: unlimited); a ``SourceError`` otherwise."""
    if value is None:
        return None
    try:
        parsed = parse_duration(value, "max_future")
    except ValueError:
        parsed = None
    if parsed is None or parsed <= timedelta(0):
        raise SourceError(name, f"max_future={value!r} is not a positive duration",
                          "write e.g. max_future='1h' (or a timedelta), or None to admit any instant")
    return parsed


def _check_names(name: object, key: object, timestamp: object, id: object, schema: Mapping[Any, Any]) -> None:
    """Names are data: any str works (``"user-id"``, ``"a\\nb"``), except what Polars reads as a column pattern."""
    if type(name) is not str:
        raise SourceError(str(name), f"name is a {type(name).__name__}, not a str", "name the source with a str")
    named: list[tuple[str, object]] = [("key", key), ("timestamp", timestamp), ("id", id)]
    named = [(role, value) for role, value in named if value is not None] + [("column", c) for c in schema]
    for role, value in named:
        if type(value) is not str:
            raise SourceError(name, f"{role} {value!r} is a {type(value).__name__}, not a str",
                              "name every column with a str")
        if value == "*" or (value.startswith("^") and value.endswith("$")):
            raise SourceError(name, f"{role} {value!r} is what Polars reads as a pattern over column names "
                              "('*' or '^...$'), not a column", "rename the column")
