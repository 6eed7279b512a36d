"""``@fdag.lookup``: the latest row of a snapshot source that is available at the request's instant.

The value is the decorated function of the newest row for the key with ``ts + lag <= as_of``; with ``max_age``
a row older than ``as_of - lag - max_age`` is too old, and ``default`` stands in when no row is available or the
newest is too old. The same rule runs offline (an as-of join) and online (the store), so batch features are
trained with the availability they are served with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypeVar

from fdag._declare.marks import mark
from fdag._declare.source import Source
from fdag._values.durations import parse_duration

F = TypeVar("F", bound=Callable[..., Any])
LOOKUP_ATTRIBUTE = "__fdag_lookup__"


@dataclass(frozen=True)
class LookupDecl:
    """What ``@fdag.lookup`` recorded on a function; ``max_age`` and ``default`` are checked when the DAG is built
    (where the problem can name the feature and its ``file:line``)."""

    source: Source
    lag: timedelta
    max_age: str | timedelta | None
    default: Any


def lookup(
    source: Source, lag: str | timedelta = "0s", max_age: str | timedelta | None = None, default: Any = None
) -> Callable[[F], F]:
    """Make the decorated per-row function a lookup of the newest ``source`` row available at ``as_of``.

    Available means ``ts + lag <= as_of``: a snapshot taken at midnight and landed with a one-day delay is
    ``lag="1d"``. The newest available row counts even where the function gives null for it: an older row
    never stands in for a newer one. With ``max_age``, a row older than ``as_of - lag - max_age`` is too old.
    When no row is available, or the newest is too old, the value is ``default`` (null unless given).

    The node's type is the function's return type, made optional unless a non-null ``default`` is given.

    Parameters
    ----------
    source
        The ``Source`` of snapshot rows; the function's parameters name its columns.
    lag
        How long after its timestamp a row becomes available (a duration such as ``"1d"`` or a ``timedelta``).
    max_age
        A positive duration: a row older than ``as_of - lag - max_age`` is too old (Feast's ttl); ``None``: any
        age.
    default
        The value when no row is available or the newest is too old; a non-null one must be of the return type.

    Example::

        from datetime import datetime

        import fdag

        balances = fdag.Source("balances", key="user_id", timestamp="ts",
                               schema={"user_id": str, "ts": datetime, "balance": float})

        @fdag.lookup(balances, lag="1d", max_age="7d", default=0.0)
        def balance_yesterday(balance: float) -> float:
            return balance
    """
    if not isinstance(source, Source):
        raise TypeError(f"lookup() takes an fdag.Source, got {type(source).__name__}. Hint: pass the Source object.")
    decl = LookupDecl(source, parse_duration(lag), max_age, default)

    def declare(func: F) -> F:
        mark(func, "lookup", LOOKUP_ATTRIBUTE, decl)
        return func

    return declare
