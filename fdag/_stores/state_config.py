"""What every online state of one source is configured with, in every store: one base, so stores cannot drift.

A state holds the events (or rows) of one source for fixed specs: it checks that the specs are over that source
and that every value column has its per-event function, computes values under one rule (``EventValues``),
checks events with one ``EventChecker`` and keeps them for ``retention`` (µs; ``KEEP_ALL`` for lookups).
A window state's retention is its longest window plus the source's ``allowed_lateness`` (``window_retention``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

import polars as pl

from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._stores.event_values import EventValues
from fdag._stores.events import EventChecker
from fdag._stores.history import History, prepare_history
from fdag._values.instants import MICROSECOND
from fdag._values.types import FType
from fdag.errors import SourceError

ValueFunction = Callable[[Mapping[str, Any]], Any]
KEEP_ALL = 2**62  # µs: a retention longer than any datetime range, so nothing is ever evicted or too late


class StateConfig:
    """The configuration shared by the window and lookup states of every store: source, specs, value columns,
    value functions, event checker and retention (µs).

    ``columns`` are the stored columns; ``stored_as`` maps every value column of the specs to the stored column
    holding its values (``stored_columns``; default: each its own).
    """

    def __init__(
        self, source: Source, specs: Sequence[WindowSpec | LookupSpec], columns: tuple[str, ...],
        values: Mapping[str, ValueFunction], retention: int, stored_as: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.specs = tuple(specs)
        self.columns = columns
        _check_specs(source, self.specs, self.columns, values)
        self._stored_as = dict(stored_as) if stored_as is not None else {column: column for column in columns}
        # every value column, with the position of the stored column holding its values (what provenance lists)
        self._readers = tuple((column, columns.index(stored)) for column, stored in self._stored_as.items())
        self._values = EventValues(self.specs, self.columns, values, stored_as)
        params = dict.fromkeys(param for spec in self.specs for param in spec.params)
        self._checker = EventChecker(source, tuple(params))
        self._retention = retention

    def validate(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Raise ``SourceError`` if ``ingest`` would reject the batch; apply nothing."""
        self._checker.check(events)

    def prepare(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> History:
        """Validate a history frame and compute its per-event values for ``load``; apply nothing.

        Raises ``SourceError`` for a frame ``bootstrap`` would reject: a driver prepares every state of a source
        before loading any, so a frame one state rejects changes none. A value column stored in another's takes
        that column's precomputed values, so a stored column counts as given when every value column it holds is
        given, with the same values.
        """
        if values:
            given: dict[str, pl.Series] = {}
            held: dict[str, list[str]] = {}
            for column, stored in self._stored_as.items():
                held.setdefault(stored, []).append(column)
            for column, series in values.items():
                stored = self._stored_as.get(column, column)  # not a value column: prepare_history names it
                if stored not in given:
                    given[stored] = series
                elif not given[stored].equals(series, check_names=False):
                    raise SourceError(self.source.name, f"values= gives different values for {held[stored]}, which "
                                      "are computed by the same function", "precompute each value column with its "
                                      "function")
            values = {stored: series for stored, series in given.items()
                      if all(column in values for column in held.get(stored, [stored]))}
        return prepare_history(self.source, self._checker, self.columns, self._values, frame, values)


def stored_columns(specs: Sequence[WindowSpec], values: Mapping[str, ValueFunction]) -> dict[str, str]:
    """Value column -> the column whose stored values it reads: the first column given the same function object
    and value type (the driver gives one object only to functions proven to compute the same value), else itself.

    A state stores and computes each stored column once; its values are bit for bit those each column would hold.
    """
    first: dict[tuple[int, FType], str] = {}
    stored: dict[str, str] = {}
    for spec in specs:
        column = spec.value_column
        if column not in stored:
            function = values.get(column)
            stored[column] = column if function is None else first.setdefault((id(function), spec.value_type), column)
    return stored


def window_retention(source: Source, specs: Sequence[WindowSpec]) -> tuple[timedelta, int]:
    """The longest window over ``source`` and the retention (µs) of its window state: that plus the lateness."""
    longest = max((spec.over for spec in specs), default=source.allowed_lateness * 0)
    return longest, (longest + source.allowed_lateness) // MICROSECOND


def _check_specs(
    source: Source, specs: Sequence[WindowSpec | LookupSpec], columns: Sequence[str],
    values: Mapping[str, ValueFunction],
) -> None:
    """Raise ``SourceError`` if a spec is over another source or a value column has no function."""
    foreign = [spec.node for spec in specs if spec.source is not source]
    if foreign:
        raise SourceError(source.name, f"is not the source of specs {foreign}",
                          "make one state per source, with that source's specs")
    missing = [column for column in columns if column not in values]
    if missing:
        raise SourceError(source.name, f"has no per-event value function for {missing}",
                          "pass values={value_column: fn(event) -> value} for every spec's value column")
