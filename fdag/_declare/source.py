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

    ``allowed_lateness``: how far behind the watermark an event may arrive and still be applied online.
    ``max_future``: an event dated more than this ahead of the wall clock (UTC now, at ingest) is not applied
    online and is counted as ``future`` — one mistyped year would otherwise move the watermark and evict
    everything. ``None`` admits any instant.

    Example::

        transactions = fdag.Source(
            "transactions", key="user_id", timestamp="ts", id="txn_id",
            schema={"txn_id": str, "user_id": str, "ts": datetime, "amount": float},
        )
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
        self.name = name
        self.key = key
        self.timestamp = timestamp
        self.id: str | None = id
        self.allowed_lateness = parse_duration(allowed_lateness, "allowed_lateness")
        self.max_future = _max_future(name, max_future)
        self.schema: dict[str, FType] = {}
        if not isinstance(schema, Mapping):
            raise SourceError(name, f"schema is a {type(schema).__name__}, not a mapping of column to type",
                              "write e.g. schema={'user_id': str, 'ts': datetime, 'amount': float}")
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
