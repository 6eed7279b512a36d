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
    ) -> None:
        _check_names(name, key, timestamp, id, schema)
        self.name = name
        self.key = key
        self.timestamp = timestamp
        self.id: str | None = id
        self.allowed_lateness = parse_duration(allowed_lateness)
        self.schema: dict[str, FType] = {}
        for column, annotation in schema.items():
            try:
                self.schema[column] = ftype_of(annotation)
            except UnsupportedType as exc:
                raise SourceError(
                    f"source '{name}' column '{column}': {exc}. "
                    "Hint: use int, float, bool, str, datetime, date, timedelta, list[T] or T | None."
                ) from None
        roles: tuple[tuple[str, str | None], ...] = (("key", key), ("timestamp", timestamp), ("id", id))
        for role, named in roles:
            if named is not None and named not in self.schema:
                raise SourceError(
                    f"source '{name}' names '{named}' as its {role} but its schema has no such column. "
                    f"Hint: add '{named}' to the schema or fix the {role}= argument."
                )
        if self.schema[timestamp].base is not datetime:
            raise SourceError(
                f"source '{name}' timestamp column '{timestamp}' is '{self.schema[timestamp]}'. "
                "Hint: declare it as datetime."
            )
        if self.schema[key].base not in (str, int):
            raise SourceError(
                f"source '{name}' key column '{key}' is '{self.schema[key]}'. Hint: keys are str or int."
            )

    @property
    def key_type(self) -> FType:
        """The type of the key column, without ``| None`` (a request must name its entity)."""
        return self.schema[self.key].required()

    def __repr__(self) -> str:
        return f"Source({self.name!r}, key={self.key!r}, timestamp={self.timestamp!r}, id={self.id!r})"


def _check_names(name: object, key: object, timestamp: object, id: object, schema: Mapping[Any, Any]) -> None:
    """Names are data: any str works (``"user-id"``, ``"a\\nb"``), except what Polars reads as a column pattern."""
    if type(name) is not str:
        raise SourceError(f"source {name!r} name is a {type(name).__name__}, not a str. Hint: name the source "
                          "with a str.")
    named: list[tuple[str, object]] = [("key", key), ("timestamp", timestamp), ("id", id)]
    named = [(role, value) for role, value in named if value is not None] + [("column", c) for c in schema]
    for role, value in named:
        if type(value) is not str:
            raise SourceError(f"source '{name}' {role} {value!r} is a {type(value).__name__}, not a str. "
                              "Hint: name every column with a str.")
        if value == "*" or (value.startswith("^") and value.endswith("$")):
            raise SourceError(f"source '{name}' {role} {value!r} is what Polars reads as a pattern over column "
                              "names ('*' or '^...$'), not a column. Hint: rename the column.")
