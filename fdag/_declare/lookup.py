"""``@fdag.lookup``: the latest row of a snapshot source that is available at the request's instant.

A lookup is the window machinery with one rule: the value is the decorated function of the newest row for the
key with ``ts + lag <= as_of`` (a ``last`` over all history, queried at ``as_of - lag``). The same rule runs
offline (an as-of join) and online (the store), so batch features are trained with the availability they are
served with. Its as-of is the timestamp of the row it read.
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

    def declare(func: F) -> F:
        mark(func, "lookup", LOOKUP_ATTRIBUTE, decl)
        return func

    return declare
