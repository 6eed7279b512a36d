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

    Example::

        @fdag.window(transactions, agg=["sum", "mean"], over=["1h", "10d"])
        def amount(amount: float) -> float:
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

    def mark(func: F) -> F:
        setattr(func, WINDOW_ATTRIBUTE, decl)
        return func

    return mark
