"""Validate and normalise incoming events of a source, a whole batch before any of it is applied.

A checked event is ``(key, timestamp in µs since the epoch, id or None, event)``, where ``event`` is the
original mapping or, if a column needed coercion (an aware non-UTC or naive datetime, a NaN, an int in a
float column, a numpy scalar, ``pd.NA``, a nanosecond ``pd.Timestamp``), a copy holding the canonical values
(the ones the offline engine reads), so per-event functions see exactly what the offline engine sees.
Anything else raises a ``SourceError`` naming the source, the event's index, the column and the fix.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fdag._declare.source import Source
from fdag._values.instants import EPOCH, EPOCH_NAIVE, MICROSECOND, micros
from fdag._values.types import INT64_MAX, INT64_MIN, FType, coerce_value
from fdag.errors import SourceError

CheckedEvent = tuple[Any, int, Any, Mapping[str, Any]]
NO_LIMIT = 2**63 - 1  # the future cutoff of a source without max_future


class EventChecker:
    """Checks events of one source: key, timestamp, id and the columns the window functions read."""

    def __init__(self, source: Source, columns: Sequence[str]) -> None:
        self.source = source
        self.roles = tuple(c for c in (source.key, source.timestamp, source.id) if c is not None)
        self.columns = tuple(c for c in columns if c not in self.roles)
        # Columns whose values pass a class test are already canonical; others go through the slow path.
        # The timestamp only needs to be UTC already when a window function reads it.
        tested = [c for c in (*self.roles, *self.columns) if c != source.timestamp or c in columns]
        self._fast: tuple[tuple[str, Any], ...] = tuple((c, source.schema[c].base) for c in tested)
        self._id = source.id

    def future_cutoff(self) -> int:
        """The latest timestamp (µs) an event may have to be applied now: the wall clock plus ``max_future``."""
        ahead = self.source.max_future
        if ahead is None:
            return NO_LIMIT
        return micros(datetime.now(UTC)) + ahead // MICROSECOND

    def check(self, events: Iterable[Mapping[str, Any]]) -> list[CheckedEvent]:
        """Every event checked and normalised, in order; raise ``SourceError`` on the first malformed one.

        A batch mixing naive and aware timestamps is malformed too: naive instants are read as UTC, so a
        producer sending local wall-clock time next to aware instants would shift some events silently.
        """
        key, stamp, ident, fast = self.source.key, self.source.timestamp, self._id, self._fast
        try:
            events = events if isinstance(events, list) else list(events)
        except TypeError:
            raise SourceError(f"source '{self.source.name}' events are a {type(events).__name__}, not an iterable "
                              "of events. Hint: pass one dict, a list of dicts or a Polars/pandas/Arrow frame."
                              ) from None
        checked: list[CheckedEvent] = []
        append = checked.append
        naive = 0  # events whose timestamp has no time zone
        for position, event in enumerate(events):
            try:
                for column, cls in fast:
                    value: Any = event[column]
                    if value is None or value.__class__ is not cls:
                        break
                    if cls is float:
                        if value != value:  # NaN is read as null
                            break
                    elif cls is int:
                        if not INT64_MIN <= value <= INT64_MAX:
                            break
                    elif cls is datetime:
                        if value.tzinfo is not UTC:
                            break
                    elif cls is list:
                        break
                else:
                    at = event[stamp]
                    if at.__class__ is datetime:
                        if at.tzinfo is None:
                            naive += 1
                            since = at - EPOCH_NAIVE
                        else:
                            since = at - EPOCH
                        append((event[key], since // MICROSECOND, event[ident] if ident else None, event))
                        continue
            except (KeyError, TypeError):
                pass
            append(self._normalise(position, event))
            naive += getattr(event[stamp], "tzinfo", None) is None  # numpy's datetime64 is naive too
        if naive and naive != len(checked):
            raise self._mixed(events)
        return checked

    def _normalise(self, position: int, event: Any) -> CheckedEvent:
        """The slow path: coerce each column, copying the event if a value changed; raise on the first problem."""
        if not isinstance(event, Mapping):
            raise self._error(position, None, f"is a {type(event).__name__}, not a mapping of column to value",
                              "pass dicts (or a Polars DataFrame / Arrow table) with the source's columns", event)
        fixed: dict[str, Any] = {}
        for column in (*self.roles, *self.columns):
            if column not in event:
                raise self._error(position, column, "is missing", self._needs(), event)
            value = event[column]
            canonical = self._coerce(position, column, value, self.source.schema[column], event)
            if column in self.roles and canonical is None:  # None, NaN, pd.NA or pd.NaT
                raise self._error(position, column, "is null",
                                  "every event needs its key, timestamp and id; drop or repair the event", event)
            if canonical is not value:
                fixed[column] = canonical
        if fixed:
            event = {**event, **fixed}
        ident = event[self._id] if self._id else None
        return event[self.source.key], micros(event[self.source.timestamp]), ident, event

    def _coerce(self, position: int, column: str, value: Any, ftype: FType, event: Any) -> Any:
        """``value`` in canonical form, or a ``SourceError`` naming the event and column."""
        try:
            return coerce_value(value, ftype)
        except (TypeError, OverflowError) as exc:
            raise self._error(position, column, str(exc).replace("is a", "holds a", 1),
                              f"send values of the declared type ('{ftype}') or fix the Source schema",
                              event) from None

    def _mixed(self, events: list[Any]) -> SourceError:
        """The error for a batch mixing naive and aware timestamps, at the first event unlike event 0."""
        stamp = self.source.timestamp
        first = getattr(events[0][stamp], "tzinfo", None) is None
        position = next(p for p, e in enumerate(events) if (getattr(e[stamp], "tzinfo", None) is None) != first)
        kinds = ("naive (no time zone)", "aware") if not first else ("aware", "naive (no time zone)")
        return self._error(position, stamp, f"is {kinds[0]} but event 0's is {kinds[1]}",
                           "give every timestamp of a batch a time zone (naive ones are read as UTC, so a "
                           "mix is usually local time next to UTC)", events[position])

    def _needs(self) -> str:
        """The hint for a missing column: every column an event must have."""
        source = self.source
        parts = [f"its key '{source.key}'", f"timestamp '{source.timestamp}'"]
        if source.id:
            parts.append(f"id '{source.id}'")
        if self.columns:
            parts.append(f"the columns its window functions read ({', '.join(self.columns)})")
        return f"every event of '{source.name}' needs {', '.join(parts[:-1])} and {parts[-1]}"

    def _error(self, position: int, column: str | None, problem: str, hint: str, event: Any) -> SourceError:
        """A ``SourceError`` for event ``position``, showing the event (shortened)."""
        text = repr(dict(event) if isinstance(event, Mapping) else event)
        if len(text) > 160:
            text = text[:157] + "..."
        where = f"column '{column}' " if column else ""
        return SourceError(
            f"source '{self.source.name}' event {position}: {where}{problem} in {text}. Hint: {hint}."
        )
