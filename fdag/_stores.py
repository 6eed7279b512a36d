"""Stores: where online window state lives. ``MemoryStore`` keeps it in process; a ``RedisStore`` shares it.

Every store implements ``Store``: it makes one ``WindowState`` per source for the window specs a driver
plans over that source. Both protocols are the boundary the row engine talks to, so a test can swap in the
in-memory store wherever a real one would run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import polars as pl

from fdag._source import Source
from fdag._window import WindowSpec
from fdag._window_state import IngestReport, MemoryWindowState

__all__ = ["IngestReport", "MemoryStore", "Store", "WindowState"]


@runtime_checkable
class WindowState(Protocol):
    """Window state of one source: ingest events, load history, answer ``(key, as_of)`` queries."""

    @property
    def watermark(self) -> datetime | None:
        """The largest event timestamp seen, or None before the first event."""
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

    def query(self, key: Any, as_of: datetime) -> tuple[list[Any], datetime | None]:
        """The specs' values for ``key`` at ``as_of``, and the watermark."""
        ...


@runtime_checkable
class Store(Protocol):
    """A place to keep online window state."""

    def window_state(
        self,
        source: Source,
        specs: Sequence[WindowSpec],
        values: Mapping[str, Callable[[Mapping[str, Any]], Any]],
    ) -> WindowState:
        """The state for ``specs`` over ``source``; ``values`` maps each value column to fn(event) -> value."""
        ...


class MemoryStore:
    """The embedded default store: window state in this process's memory, lost when it exits.

    Example::

        row = fdag.RowDriver(dag, outputs=["amount_sum_1h"], store=fdag.MemoryStore())
    """

    def window_state(
        self,
        source: Source,
        specs: Sequence[WindowSpec],
        values: Mapping[str, Callable[[Mapping[str, Any]], Any]],
    ) -> MemoryWindowState:
        """A fresh, independent in-memory state for ``specs`` over ``source``."""
        return MemoryWindowState(source, specs, values)

    def __repr__(self) -> str:
        return "MemoryStore()"
