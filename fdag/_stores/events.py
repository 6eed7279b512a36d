"""Validate and normalise incoming events of a source, a whole batch before any of it is applied.

A checked event is ``(key, timestamp in µs since the epoch, id or None, event)``, where ``event`` is the
original mapping or, if a column needed coercion (an aware non-UTC or naive datetime, a NaN, an int in a
float column, a numpy scalar, ``pd.NA``, a nanosecond ``pd.Timestamp``), a copy holding the canonical values
(the ones the offline engine reads), so per-event functions see exactly what the offline engine sees.
Anything else raises a ``SourceError`` naming the source, the event's index, the column and the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fdag._declare.source import Source
from fdag._values.instants import EPOCH, EPOCH_NAIVE, MICROSECOND, micros
from fdag._values.types import INT64_MAX, INT64_MIN, FType, coerce_value
from fdag.errors import SourceError

CheckedEvent = tuple[Any, int, Any, Mapping[str, Any]]
# (events, append, slow) -> how many naive timestamps; slow(position, event, append) checks one event the long way
FastPath = Callable[[list[Any], Callable[[CheckedEvent], None], Callable[..., bool]], int]
# event -> the checked event, or None when it needs the long way
FastOne = Callable[[Any], "CheckedEvent | None"]
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
        self._fast, self._fast_one = _fast_paths(tuple((c, source.schema[c].base) for c in tested), source)
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
        try:
            events = events if isinstance(events, list) else list(events)
        except TypeError:
            raise SourceError(self.source.name, f"events are a {type(events).__name__}, not an iterable of events",
                              "pass one dict, a list of dicts or a Polars/pandas/Arrow frame") from None
        checked: list[CheckedEvent] = []
        naive = self._fast(events, checked.append, self._slow)  # events whose timestamp has no time zone
        if naive and naive != len(checked):
            raise self._mixed(events)
        return checked

    def check_one(self, event: Mapping[str, Any]) -> CheckedEvent:
        """``check([event])[0]`` without a batch around it (streaming: one event per request); one event cannot
        mix naive and aware timestamps, so it is checked alone exactly as in a batch."""
        checked = self._fast_one(event)
        return checked if checked is not None else self._normalise(0, event)

    def _slow(self, position: int, event: Any, append: Callable[[CheckedEvent], None]) -> bool:
        """Check and append an event the fast path does not pass; whether its timestamp is naive."""
        append(self._normalise(position, event))
        return getattr(event[self.source.timestamp], "tzinfo", None) is None  # numpy's datetime64 is naive too

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
        return SourceError(self.source.name, f"{problem} in {text}", hint, column=column, where=f"event {position}")


_FAST_TESTS = {  # per column type, a test true only for values already canonical (None fails every one)
    float: "(v := event[{c}]).__class__ is float and v == v",  # NaN is read as null
    int: f"(v := event[{{c}}]).__class__ is int and {INT64_MIN} <= v <= {INT64_MAX}",
    datetime: "(v := event[{c}]).__class__ is datetime and v.tzinfo is UTC",
}


def _fast_paths(tested: tuple[tuple[str, type], ...], source: Source) -> tuple[FastPath, FastOne]:
    """Compile the checks of plain events for ``source``, of a batch and of one event: one class test per column
    in ``tested`` (straight-line code, no loop over columns); an event failing any test, or raising (not a
    mapping, a column missing), goes the long way (``slow`` for a batch, ``None`` for one event). The batch check
    returns how many timestamps were naive."""
    # Source refuses a column not named by a str, so every name below is a str literal in the generated code.
    assert type(source.key) is str and type(source.timestamp) is str and all(type(c) is str for c, _ in tested)
    namespace: dict[str, Any] = {"datetime": datetime, "UTC": UTC, "EPOCH": EPOCH, "EPOCH_NAIVE": EPOCH_NAIVE,
                                 "MICROSECOND": MICROSECOND}
    tests = []
    for j, (column, cls) in enumerate(tested):
        if cls is list:  # lists are checked item by item: always the slow path
            tests = ["False"]
            break
        namespace[f"cls_{j}"] = cls
        tests.append(_FAST_TESTS.get(cls, f"event[{{c}}].__class__ is cls_{j}").format(c=repr(column)))
    ident = repr(source.id) if source.id else None
    plain = f"if {' and '.join(tests) or 'True'}:"
    at = f"at = event[{source.timestamp!r}]"
    checked = f"(event[{source.key!r}], since // MICROSECOND, {f'event[{ident}]' if ident else 'None'}, event)"
    lines = [
        "def check(events, append, slow):",
        "    naive = 0",
        "    for position, event in enumerate(events):",
        "        try:",
        f"            {plain}",
        f"                {at}",
        "                if at.__class__ is datetime:",
        "                    if at.tzinfo is None:",
        "                        naive += 1",
        "                        since = at - EPOCH_NAIVE",
        "                    else:",
        "                        since = at - EPOCH",
        f"                    append({checked})",
        "                    continue",
        "        except Exception:  # not a plain event (not a mapping, a column missing): the slow path names why",
        "            pass",
        "        naive += slow(position, event, append)",
        "    return naive",
        "",
        "def check_one(event):",
        "    try:",
        f"        {plain}",
        f"            {at}",
        "            if at.__class__ is datetime:",
        "                since = at - (EPOCH_NAIVE if at.tzinfo is None else EPOCH)",
        f"                return {checked}",
        "    except Exception:  # as above: the caller's long way names why",
        "        pass",
        "    return None",
    ]
    exec(compile("\n".join(lines) + "\n", f"<fdag event check {source.name!r}>", "exec"), namespace)
    check: FastPath = namespace["check"]
    check_one: FastOne = namespace["check_one"]
    return check, check_one
