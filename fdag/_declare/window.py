"""``@fdag.window``: declare time-window aggregations over a source's events.

The decorator only records the declaration; discovery expands it into one ``WindowSpec`` per (agg, over)
combination, and both engines compute every spec with the same semantics (the aggregation registry binds each
aggregation's online and offline implementation).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal, TypeVar

from fdag._aggregations.registry import Aggregation, parse_aggregation
from fdag._declare.marks import mark
from fdag._declare.source import Source
from fdag._values.durations import duration_label, parse_duration

F = TypeVar("F", bound=Callable[..., Any])
WINDOW_ATTRIBUTE = "__fdag_window__"

@dataclass(frozen=True)
class WindowDecl:
    """What ``@fdag.window`` recorded on a function, before expansion into nodes."""

    source: Source
    aggs: tuple[Aggregation, ...]
    overs: tuple[tuple[timedelta, str], ...]
    closed: Literal["left", "both"]
    default: Any
    grid: bool  # lists were given: nodes are named <function>_<agg>_<over>

    def node_names(self, function: str) -> list[tuple[str, Aggregation, timedelta, str]]:
        """Each node this declaration makes: (name, aggregation, window length, window label)."""
        return [
            (f"{function}_{agg.label}_{label}" if self.grid else function, agg, over, label)
            for agg in self.aggs
            for over, label in self.overs
        ]


def window(
    source: Source,
    agg: str | Sequence[str],
    over: str | timedelta | Sequence[str | timedelta],
    *,
    closed: Literal["left", "both"] = "left",
    default: Any = None,
) -> Callable[[F], F]:
    """Make the decorated per-event function a window feature over ``source``.

    For a request with key ``k`` at ``as_of = t`` the node aggregates the function's value over the events of
    ``source`` with key ``k`` and timestamp in ``[t - over, t)`` (``closed="both"``: ``[t - over, t]``).
    Lists for ``agg``/``over`` make one node per combination, named ``<function>_<agg>_<over>``.
    ``agg`` names registered aggregations (``count``, ``sum``, ..., ``last_n(N)``); any other raises
    ``DeclarationError``, naming them.

    The function's parameters name *columns of the source*, not nodes; it returns the per-event value (a null
    value, or an exception, skips that event for every aggregation). The node depends on the request input named
    like the source's key and on ``as_of``; its type follows the aggregation (``count`` → ``int``, ``mean`` →
    ``float | None``, ``last_n`` → ``list[T]``).

    Parameters
    ----------
    source
        The ``Source`` whose events are aggregated.
    agg
        One aggregation or a list: ``count``, ``sum``, ``mean``, ``min``, ``max``, ``std``, ``var``, ``first``,
        ``last``, ``distinct_count``, ``last_n(n)``.
    over
        One window length or a list: ``"30s"``, ``"5m"``, ``"1h"``, ``"10d"`` (exact durations) or ``timedelta``.
    closed
        ``"left"``: ``[t - over, t)``, the event being scored never counts in its own features; ``"both"``:
        ``[t - over, t]``, for requests that are themselves events and should count themselves.
    default
        The value of an empty window instead of the aggregation's own (0 for ``count``, ``distinct_count`` and
        ``sum``, ``[]`` for ``last_n``, else null).

    Example::

        from datetime import datetime

        import fdag

        transactions = fdag.Source("transactions", key="user_id", timestamp="ts", id="txn_id",
                                   schema={"txn_id": str, "user_id": str, "ts": datetime, "amount": float})

        @fdag.window(transactions, agg=["sum", "mean"], over=["1h", "10d"])
        def amount(amount: float) -> float:   # in a feature module: amount_sum_1h ... amount_mean_10d
            return amount
    """
    if not isinstance(source, Source):
        raise TypeError(f"window() takes an fdag.Source, got {type(source).__name__}. Hint: pass the Source object.")
    if closed not in ("left", "both"):
        raise ValueError(f"closed={closed!r} is not 'left' or 'both'. Hint: 'left' is [t-w, t), 'both' is [t-w, t].")
    grid = not isinstance(agg, str) or not isinstance(over, str | timedelta)
    aggs = tuple(parse_aggregation(a) for a in ([agg] if isinstance(agg, str) else agg))
    overs_in = [over] if isinstance(over, str | timedelta) else list(over)
    overs = tuple(
        (parse_duration(o), o.strip() if isinstance(o, str) else duration_label(o)) for o in overs_in
    )
    if not aggs or not overs:
        raise ValueError("window() needs at least one aggregation and one duration.")
    if any(length <= timedelta(0) for length, _ in overs):
        raise ValueError("window lengths must be positive. Hint: write e.g. over='1h'.")
    decl = WindowDecl(source, aggs, overs, closed, default, grid)

    def declare(func: F) -> F:
        mark(func, "window", WINDOW_ATTRIBUTE, decl)
        return func

    return declare
