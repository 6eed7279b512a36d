"""The aggregation registry: every window aggregation defined once, as one ``AggregationKind`` entry.

An entry says everything the rest of fdag needs to know about an aggregation: its name and whether it takes an
``n`` (``last_n(5)``), the node type it gives, its empty-window value, the per-event value types it is defined
on, the derived arrays it reads online, its online aggregator factory and its offline kernel. The declaration
layer parses ``agg=`` here, discovery types and checks window nodes here, the stores plan their derived arrays
here and both engines reach their implementation here: adding an aggregation is one ``register`` call.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import reduce
from operator import attrgetter, or_
from typing import Any

import polars as pl

from fdag._aggregations import offline, online, tiled
from fdag._aggregations.column_index import Derived
from fdag._aggregations.offline import OfflineKernel, Window
from fdag._aggregations.online import Aggregator, OnlineFactory
from fdag._aggregations.tiled import TileAggregator, TileRule
from fdag._values.types import FType
from fdag.errors import DeclarationError

NUMERIC = (int, float, bool)
ORDERED = (int, float, str, datetime, date, timedelta, bool)
_WITH_N = re.compile(r"(\w+)\((\d+)\)")


@dataclass(frozen=True, eq=False)
class AggregationKind:
    """One aggregation, defined once: what both engines, discovery and the stores need to know about it."""

    name: str
    result: Callable[[FType], FType]  # the node type, from the (non-optional) per-event value type
    online: OnlineFactory  # (empty value, exact int/bool values, n) -> the aggregator over a ColumnIndex
    offline: OfflineKernel  # (non-null values, window, column cache, n) -> one value per request
    empty: Any = None  # the empty window's value without ``default=``
    accepts: tuple[type, ...] | None = None  # the per-event value types it is defined on (None: every type)
    hint: str = ""  # the fix to show for a value type it does not accept
    needs: Derived = Derived.NONE  # the derived arrays its online aggregator reads
    ordered: bool = False  # reads events by (timestamp, tie-break) order, not just by timestamp
    takes_n: bool = False  # written ``name(N)``; a node name shows it as ``<name without _n>_<N>``
    overflows: bool = False  # an int result may leave int64: the window's value is then an error (null, recorded)
    tile: TileRule | None = None  # how it reads merged partial states (None: stores with tiles read raw events)

    def accepts_type(self, value: FType) -> bool:
        """Whether per-event values of type ``value`` can be aggregated this way."""
        return self.accepts is None or value.base in self.accepts


_KINDS: dict[str, AggregationKind] = {}


def register(kind: AggregationKind) -> AggregationKind:
    """Add an aggregation to the registry (``agg=kind.name`` becomes valid); its name must be new."""
    if not kind.name.isidentifier():
        raise DeclarationError("aggregation", kind.name, "is not an identifier", "name it like 'sum' or 'last_n'")
    if kind.name in _KINDS:
        raise DeclarationError("aggregation", kind.name, "is already registered", "unregister it first")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Remove an aggregation from the registry (specs already built with it can no longer be computed)."""
    del _KINDS[name]


def kind_of(name: str) -> AggregationKind:
    """The registered aggregation called ``name``."""
    return _KINDS[name]


def known_aggregations() -> str:
    """The registered aggregations as a user would write them: ``count, sum, ... or last_n(N)``."""
    written = [f"{kind.name}(N)" if kind.takes_n else kind.name for kind in _KINDS.values()]
    return f"{', '.join(written[:-1])} or {written[-1]}" if len(written) > 1 else "".join(written)


def needs_of(aggregations: Iterable[Aggregation]) -> Derived:
    """The derived arrays these aggregations read online, together (what a column's index must build)."""
    return reduce(or_, (agg.kind.needs for agg in aggregations), Derived.NONE)


@dataclass(frozen=True)
class Aggregation:
    """One aggregation as declared: its registered name (``last_n`` for ``last_n(5)``) and ``n`` where it takes one."""

    name: str
    n: int | None = None

    @property
    def kind(self) -> AggregationKind:
        """The registry's entry for this aggregation."""
        return kind_of(self.name)

    @property
    def label(self) -> str:
        """The aggregation's part of a node name: ``sum``, ``last_5``."""
        return f"{self.name.removesuffix('_n')}_{self.n}" if self.kind.takes_n else self.name

    @property
    def empty(self) -> Any:
        """The empty window's value without ``default=`` (a fresh copy: callers may mutate a list)."""
        return copy.copy(self.kind.empty)

    def result_type(self, value: FType) -> FType:
        """The node type for per-event values of type ``value`` (``count`` -> int, ``mean`` -> float, ...)."""
        return self.kind.result(value.required())

    def aggregator(self, empty: Any, returns: FType, exact: bool) -> Aggregator:
        """The online aggregator ``aggregate(index, a, z)`` with empty-window value ``empty`` for nodes of type
        ``returns``; ``exact`` when the values are ints or bools."""
        return self.kind.online(online.typed_empty(empty, returns), exact, self.n)

    def tiled(self, empty: Any, returns: FType, exact: bool) -> TileAggregator | None:
        """The aggregator over a merged ``Partial`` (as ``aggregator``), or None if it cannot be tiled."""
        rule = self.kind.tile
        return None if rule is None else rule.factory(online.typed_empty(empty, returns), exact)

    def aggregate(self, values: pl.Series, window: Window, cache: dict[Any, Any]) -> pl.Series:
        """The offline result per request of ``window`` over a column's non-null ``values``, before empty-window
        defaults; ``cache`` holds what kernels over the same column share."""
        return self.kind.offline(values, window, cache, self.n)


def parse_aggregation(text: str) -> Aggregation:
    """Read ``"sum"`` or ``"last_n(5)"``; raise ``DeclarationError`` naming the known aggregations otherwise."""
    if isinstance(text, str):
        match = _WITH_N.fullmatch(text)
        name, n = (match[1], int(match[2])) if match else (text, None)
        kind = _KINDS.get(name)
        if kind is not None and kind.takes_n == (n is not None):
            return Aggregation(name, n)
    raise DeclarationError("agg", text, "is not a known aggregation", f"use one of {known_aggregations()}")


def _sum_type(value: FType) -> FType:
    """Sums of ints and bools are ints; of floats, floats (an empty sum is 0, never null)."""
    return FType(int if value.base in (int, bool) else value.base)


def _always(ftype: FType) -> Callable[[FType], FType]:
    """The type rule of an aggregation whose node type does not depend on its values' type."""
    return lambda value: ftype


_NUMERIC_HINT = "return an int or float per event, or use count/first/last/last_n"
_ORDERED_HINT = "return an orderable scalar per event (int, float, bool, str, datetime, date or timedelta)"
_SPREAD_TYPE = _always(FType(float, optional=True))

for _kind in (
    AggregationKind("count", _always(FType(int)), online.plain(online.count), offline.plain(offline.count), empty=0,
                    tile=TileRule(tiled.count)),
    AggregationKind("sum", _sum_type, online.by_exactness(online.sum_exact, online.sum_float),
                    offline.plain(offline.total), empty=0, accepts=NUMERIC, hint=_NUMERIC_HINT, needs=Derived.SUMS,
                    overflows=True, tile=TileRule(tiled.sum_of, reads="s")),
    AggregationKind("mean", _SPREAD_TYPE, online.by_exactness(online.mean_exact, online.mean_float),
                    offline.plain(offline.mean), accepts=NUMERIC, hint=_NUMERIC_HINT, needs=Derived.SUMS,
                    tile=TileRule(tiled.mean, reads="s")),
    AggregationKind("min", FType.nullable, online.plain(online.extreme(attrgetter("mins"), attrgetter("range_min"))),
                    offline.plain(offline.extreme(largest=False)), accepts=ORDERED, hint=_ORDERED_HINT,
                    needs=Derived.MINS, tile=TileRule(tiled.low, reads="m")),
    AggregationKind("max", FType.nullable, online.plain(online.extreme(attrgetter("maxs"), attrgetter("range_max"))),
                    offline.plain(offline.extreme(largest=True)), accepts=ORDERED, hint=_ORDERED_HINT,
                    needs=Derived.MAXS, tile=TileRule(tiled.high, reads="M")),
    AggregationKind("std", _SPREAD_TYPE, online.by_exactness(online.spread(online.var_exact, root=True),
                                                             online.spread(online.var_float, root=True)),
                    offline.plain(offline.spread(root=True)), accepts=NUMERIC, hint=_NUMERIC_HINT,
                    needs=Derived.SUMS | Derived.SQUARES,
                    tile=TileRule(tiled.spread(root=True), reads="sq")),
    AggregationKind("var", _SPREAD_TYPE, online.by_exactness(online.spread(online.var_exact, root=False),
                                                             online.spread(online.var_float, root=False)),
                    offline.plain(offline.spread(root=False)), accepts=NUMERIC, hint=_NUMERIC_HINT,
                    needs=Derived.SUMS | Derived.SQUARES,
                    tile=TileRule(tiled.spread(root=False), reads="sq")),
    AggregationKind("first", FType.nullable, online.plain(online.first), offline.plain(offline.first), ordered=True,
                    tile=TileRule(tiled.first)),
    AggregationKind("last", FType.nullable, online.plain(online.last), offline.plain(offline.last), ordered=True,
                    tile=TileRule(tiled.last)),
    AggregationKind("distinct_count", _always(FType(int)), online.plain(online.distinct_count),
                    offline.plain(offline.distinct_count), empty=0, needs=Derived.DISTINCT),
    AggregationKind("last_n", lambda value: FType(list, item=value), online.last_n, offline.last_n, empty=[],
                    ordered=True, takes_n=True),
):
    register(_kind)
