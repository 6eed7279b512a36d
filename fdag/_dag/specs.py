"""Resolved specs: what both engines compute for a window or lookup node, fully resolved from its declaration."""

from __future__ import annotations

import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from fdag._aggregations.registry import Aggregation
from fdag._declare.lookup import LookupDecl
from fdag._declare.source import Source
from fdag._values.types import FType, ftype_of


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
    lag: timedelta | None = None  # set for lookups: the value is as of ``as_of - lag``

    @property
    def value_column(self) -> str:
        """The events-frame column holding the per-event value (shared by every spec of one function)."""
        return f"__value__{self.function.__name__}"

    def event_params(self) -> dict[str, FType]:
        """The per-event function's parameters (source columns) with the types it declares."""
        hints = typing.get_type_hints(self.function)
        return {column: ftype_of(hints[column]) for column in self.params}

    @property
    def empty_value(self) -> Any:
        """The value of an empty window: ``default=`` if given, else the aggregation's (0 for count/sum, [] for
        last_n, else null)."""
        return self.default if self.default is not None else self.agg.empty


ALL_HISTORY = timedelta(days=365 * 1000)  # "every row before the instant": longer than any real history
CLOCK_PREFIX = "__as_of__"


def event_time(ts: datetime) -> datetime:
    """The per-row value of a lookup's clock: the row's own timestamp."""
    return ts


def lookup_spec(node: str, decl: LookupDecl, func: Callable[..., Any], params: tuple[str, ...],
                returns: FType) -> WindowSpec:
    """The window spec computing a lookup node: ``last`` of the per-row value wrapped in a one-item list.

    Windows skip null values, but a lookup must take the newest row even when its value is null; wrapping makes
    every row's value non-null, and the engines unwrap the result (see ``wrap_row`` and ``unwrap``).
    """
    wrapped = FType(list, optional=True, item=returns.nullable())
    return WindowSpec(node, decl.source, func, params, returns, Aggregation("last"), ALL_HISTORY, "history",
                      "both", None, wrapped, decl.lag)


def is_lookup_value(spec: WindowSpec) -> bool:
    """Whether the spec computes a lookup's value (wrapped), rather than a window or a lookup's clock."""
    return spec.lag is not None and spec.function is not event_time


def node_type(spec: WindowSpec) -> FType:
    """The type of the node a spec computes, as the DAG sees it (a lookup's value unwrapped)."""
    if is_lookup_value(spec):
        assert spec.returns.item is not None
        return spec.returns.item
    return spec.returns


def clock_spec(spec: WindowSpec) -> WindowSpec:
    """The hidden spec giving the timestamp of the row a lookup read: that value's as-of."""
    source = spec.source
    return WindowSpec(CLOCK_PREFIX + spec.node, source, event_time, (source.timestamp,), FType(datetime),
                      Aggregation("last"), ALL_HISTORY, "history", "both", None, FType(datetime, optional=True),
                      spec.lag)
