"""Stores: where online state lives. ``MemoryStore`` keeps it in process; a ``RedisStore`` shares it.

Every store implements ``Store``: it makes one ``WindowState`` per source for the window specs a driver
plans over that source, and one ``LookupState`` per source for its lookup specs. These protocols are the
boundary the row engine talks to, so a test can swap in the in-memory store wherever a real one would run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import polars as pl

from fdag._dag.specs import LookupSpec, WindowSpec
from fdag._declare.source import Source
from fdag._stores.history import History
from fdag._values.calls import ErrorRecord


@dataclass(frozen=True)
class IngestReport:
    """What one ``ingest`` or ``bootstrap`` did: events applied, duplicates ignored, too late to apply, dated
    more than the source's ``max_future`` ahead of the wall clock (not applied either), and the errors raised by
    per-event functions (each made that event's value null; counted in events)."""

    accepted: int = 0
    duplicates: int = 0
    too_late: int = 0
    future: int = 0
    errors: tuple[ErrorRecord, ...] = ()


@runtime_checkable
class WindowState(Protocol):
    """Window state of one source: ingest events, load history, answer ``(key, as_of)`` queries."""

    @property
    def watermark(self) -> datetime | None:
        """The largest event timestamp seen, or None before the first event."""
        ...

    @property
    def held(self) -> int:
        """How many events (rows) the state holds across all keys."""
        ...

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> IngestReport:
        """Apply a batch of events, all or nothing."""
        ...

    def validate(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Raise ``SourceError`` if ``ingest`` would reject the batch; apply nothing."""
        ...

    def bootstrap(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> IngestReport:
        """Load a history frame; ``values`` may give per-event value columns precomputed."""
        ...

    def prepare(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> History:
        """Validate a history frame for ``load`` (raising ``SourceError``); apply nothing."""
        ...

    def load(self, history: History) -> IngestReport:
        """Apply what ``prepare`` returned: ``bootstrap`` is ``load(prepare(frame, values))``."""
        ...

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], datetime | None]:
        """The specs' values for ``key`` at ``as_of``, and the watermark."""
        ...


@runtime_checkable
class LookupState(Protocol):
    """Lookup state of one source: every row kept, answering "the newest row of a key at or before t"."""

    @property
    def watermark(self) -> datetime | None:
        """The largest row timestamp seen, or None before the first row."""
        ...

    @property
    def held(self) -> int:
        """How many events (rows) the state holds across all keys."""
        ...

    def ingest(self, events: Iterable[Mapping[str, Any]]) -> IngestReport:
        """Apply a batch of rows, all or nothing; rows whose id is held are duplicates."""
        ...

    def validate(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Raise ``SourceError`` if ``ingest`` would reject the batch; apply nothing."""
        ...

    def bootstrap(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> IngestReport:
        """Load a snapshot frame; ``values`` may give per-row value columns precomputed."""
        ...

    def prepare(self, frame: pl.DataFrame, values: Mapping[str, pl.Series] | None = None) -> History:
        """Validate a snapshot frame for ``load`` (raising ``SourceError``); apply nothing."""
        ...

    def load(self, history: History) -> IngestReport:
        """Apply what ``prepare`` returned: ``bootstrap`` is ``load(prepare(frame, values))``."""
        ...

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], list[datetime | None]]:
        """The specs' values for ``key`` at ``as_of`` and each value's as-of (see ``LookupQuery.answer``)."""
        ...


@runtime_checkable
class Store(Protocol):
    """A place to keep online window and lookup state."""

    def window_state(
        self,
        source: Source,
        specs: Sequence[WindowSpec],
        values: Mapping[str, Callable[[Mapping[str, Any]], Any]],
    ) -> WindowState:
        """The state for ``specs`` over ``source``; ``values`` maps each value column to fn(event) -> value."""
        ...

    def lookup_state(
        self,
        source: Source,
        specs: Sequence[LookupSpec],
        values: Mapping[str, Callable[[Mapping[str, Any]], Any]],
    ) -> LookupState:
        """The state for lookup ``specs`` over ``source``; ``values`` maps each value column to fn(row) -> value."""
        ...
