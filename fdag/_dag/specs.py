"""Resolved specs: what both engines compute for a window or lookup node, fully resolved from its declaration."""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

from fdag._aggregations.registry import Aggregation
from fdag._declare.source import Source
from fdag._values.types import FType, ftype_of


def _column_types(function: Callable[..., Any], params: tuple[str, ...]) -> dict[str, FType]:
    """The per-event function's parameters (source columns) with the types it declares."""
    hints = typing.get_type_hints(function)
    return {column: ftype_of(hints[column]) for column in params}


@dataclass(frozen=True)
class WindowSpec:
    """One window node, fully resolved: what both engines compute for it."""

    node: str
    source: Source
    function: Callable[..., Any] = field(compare=False)
    params: tuple[str, ...]  # source columns the per-event function reads
    value_type: FType  # the per-event function's return type
    agg: Aggregation
    over: timedelta
    over_label: str
    closed: Literal["left", "both"]
    default: Any
    returns: FType

    @property
    def value_column(self) -> str:
        """The events-frame column holding the per-event value (shared by every spec of one function)."""
        return f"__value__{self.function.__name__}"

    @property
    def error_node(self) -> str:
        """The name an error of the per-event function is recorded under, once per event: the function's (one
        declaration may make several window nodes from it)."""
        return self.function.__name__

    def event_params(self) -> dict[str, FType]:
        """The per-event function's parameters (source columns) with the types it declares."""
        return _column_types(self.function, self.params)

    @property
    def can_overflow(self) -> bool:
        """Whether the node's int value may leave int64 (an ``OverflowError`` for that request, in both engines)."""
        return self.agg.kind.overflows and self.returns.base is int

    @property
    def empty_value(self) -> Any:
        """The value of an empty window: ``default=`` if given, else the aggregation's (0 for count/sum, [] for
        last_n, else null)."""
        return self.default if self.default is not None else self.agg.empty


@dataclass(frozen=True)
class LookupSpec:
    """One lookup node, fully resolved: the newest row of its key with ``ts <= as_of - lag``, read through
    ``function``.

    The row is too old when ``max_age`` is set and ``ts < as_of - lag - max_age``; with no row, or a too old
    one, the value is ``default``. The value's as-of is the row's timestamp; a default's is
    ``min(as_of - lag, watermark of the source)`` (unknown, None, when the default is null: nothing was read).
    """

    node: str
    source: Source
    function: Callable[..., Any] = field(compare=False)
    params: tuple[str, ...]  # source columns the per-row function reads
    value_type: FType  # the per-row function's return type
    lag: timedelta
    max_age: timedelta | None
    default: Any  # already in the canonical form of ``returns`` (e.g. an int default of a float lookup is a float)
    returns: FType  # the node's type

    @property
    def value_column(self) -> str:
        """The events-frame column holding the per-row value (one per lookup node)."""
        return f"__lookup__{self.node}"

    @property
    def error_node(self) -> str:
        """The name an error of the per-row function is recorded under, once per row: the node's."""
        return self.node

    def event_params(self) -> dict[str, FType]:
        """The per-row function's parameters (source columns) with the types it declares."""
        return _column_types(self.function, self.params)

    @property
    def label(self) -> str:
        """How the node reads its source, for DOT and ``explain()``: ``lookup, lag 1 day, max age 7 days``."""
        parts = [f"lag {self.lag}"]
        if self.max_age is not None:
            parts.append(f"max age {self.max_age}")
        if self.default is not None:
            parts.append(f"default {self.default!r}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Argument:
    """One parameter of a feature's function: it receives the value of ``source`` (a node or request input), or
    the constant ``value`` when ``source`` is None (bound by ``@fdag.parameterize`` or by the config)."""

    param: str
    source: str | None
    value: Any = None


@dataclass(frozen=True)
class FieldSpec:
    """A node of ``@fdag.extract_fields``: field ``field`` of the dict that function ``group`` returns.

    Every field node of one function shares its call: the engines call the function once per row, record its own
    exception under ``group`` (every field then null), and a missing or mistyped field under the field's node.
    """

    group: str  # the function's name
    field: str
    fields: tuple[tuple[str, FType], ...]  # every field the function declares, in order
    location: str


@dataclass(frozen=True)
class VariantSpec:
    """A ``@fdag.config`` variant chosen for a node: the function's own name and the config values its
    conditions read (part of the node's version)."""

    function: str
    conditions: tuple[str, ...]  # e.g. ("region == 'eu'",)
    config: tuple[tuple[str, str], ...]  # (key, repr(value)) of each config key the conditions read
