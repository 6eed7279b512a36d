"""``@fdag.lookup``: the latest row of a snapshot source that is available at the request's instant.

A lookup is the window machinery with one rule: the value is the decorated function of the newest row for the
key with ``ts + lag <= as_of`` (a ``last`` over all history, queried at ``as_of - lag``). The same rule runs
offline (an as-of join) and online (the store), so batch features are trained with the availability they are
served with. Its as-of is the timestamp of the row it read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from fdag._duration import parse_duration
from fdag._source import Source
from fdag._types import FType
from fdag._window import Aggregation, WindowSpec

F = TypeVar("F", bound=Callable[..., Any])
LOOKUP_ATTRIBUTE = "__fdag_lookup__"
ALL_HISTORY = timedelta(days=365 * 1000)  # "every row before the instant": longer than any real history
CLOCK_PREFIX = "__as_of__"


@dataclass(frozen=True)
class LookupDecl:
    """What ``@fdag.lookup`` recorded on a function."""

    source: Source
    lag: timedelta


def lookup(source: Source, lag: str | timedelta = "0s") -> Callable[[F], F]:
    """Make the decorated per-row function a lookup of the newest ``source`` row available at ``as_of``.

    Available means ``ts + lag <= as_of``: a snapshot taken at midnight and landed with a one-day delay is
    ``lag="1d"``. The node's type is the function's return type, made optional (no row yet: null). The newest
    row counts even where the function gives null for it: an older row never stands in for a newer one.

    Example::

        @fdag.lookup(balances, lag="1d")
        def balance_yesterday(balance: float) -> float:
            return balance
    """
    if not isinstance(source, Source):
        raise TypeError(f"lookup() takes an fdag.Source, got {type(source).__name__}. Hint: pass the Source object.")
    decl = LookupDecl(source, parse_duration(lag))

    def mark(func: F) -> F:
        setattr(func, LOOKUP_ATTRIBUTE, decl)
        return func

    return mark


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
