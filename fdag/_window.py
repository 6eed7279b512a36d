"""``@fdag.window``: declare time-window aggregations over a source's events.

The decorator only records the declaration; discovery expands it into one ``WindowSpec`` per (agg, over)
combination, and both engines compute every spec with the same semantics (DESIGN §1).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal, TypeVar

from fdag._duration import duration_label, parse_duration
from fdag._source import Source
from fdag._types import FType, ftype_of

F = TypeVar("F", bound=Callable[..., Any])
WINDOW_ATTRIBUTE = "__fdag_window__"

# Aggregations whose empty window gives a value rather than null (DESIGN §1).
EMPTY_VALUES: dict[str, Any] = {"count": 0, "distinct_count": 0, "sum": 0}
AGGREGATIONS = ("count", "sum", "mean", "min", "max", "std", "var", "first", "last", "distinct_count", "last_n")
_LAST_N = re.compile(r"^last_n\((\d+)\)$")
_ORDERED = (int, float, str, datetime, date, timedelta, bool)


@dataclass(frozen=True)
class Aggregation:
    """One aggregation: its name (``last_n`` for ``last_n(5)``) and ``n`` where it takes one."""

    name: str
    n: int | None = None

    @property
    def label(self) -> str:
        """The aggregation's part of a node name: ``sum``, ``last_5``."""
        return f"last_{self.n}" if self.name == "last_n" else self.name

    def result_type(self, value: FType) -> FType:
        """The node type for per-event values of type ``value`` (``count`` → int, ``mean`` → float, ...)."""
        base = value.required()
        if self.name in ("count", "distinct_count"):
            return FType(int)
        if self.name == "sum":
            return FType(int if base.base in (int, bool) else base.base)
        if self.name in ("mean", "std", "var"):
            return FType(float, optional=True)
        if self.name == "last_n":
            return FType(list, item=base)
        return base.nullable()


def parse_aggregation(text: str) -> Aggregation:
    """Read ``"sum"`` or ``"last_n(5)"``; raise ``ValueError`` naming the known aggregations otherwise."""
    match = _LAST_N.match(text)
    if match:
        return Aggregation("last_n", int(match.group(1)))
    if text in AGGREGATIONS and text != "last_n":
        return Aggregation(text)
    raise ValueError(
        f"unknown aggregation {text!r}. Hint: use one of {', '.join(a for a in AGGREGATIONS if a != 'last_n')}"
        " or 'last_n(N)'."
    )


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
        """The value of an empty window: ``default=`` if given, else DESIGN §1's (0 for count/sum, else null)."""
        if self.default is not None:
            return self.default
        return [] if self.agg.name == "last_n" else EMPTY_VALUES.get(self.agg.name)


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


def is_ordered(ftype: FType) -> bool:
    """Whether min/max are defined on values of this type."""
    return ftype.base in _ORDERED
